# Copyright (c) ecdl_mm contributors. All rights reserved. A new cohort for
# few-shot adaptation (FewShotECNBIDataset): every lesion folder under
# data_root (or a sheet), cut into k lesions per class (support, training;
# seeded, whole lesions, patient-aware) and the rest (query, test). 64 px
# (tests, CPU smoke runs on the demo lesions). No validation: with a few labels
# there is nothing to select on.
_base_ = ['./ecnbi_lesion_64.py']

cohort = dict(
    type='FewShotECNBIDataset',
    data_root='../shared/datasets/ecdl-demo',
    ann_file='',
    sheet_name=None,
    disjoint_with=[],
    shots=4,
    seed=0)
train_dataloader = dict(
    batch_size=8,
    dataset=dict(cohort, subset='support'),
    # (not DefaultSampler: mmengine sleeps 2 s at every restart of a finite
    # loader, i.e. every iteration when the support set is one batch)
    sampler=dict(type='InfiniteSampler', shuffle=True))
test_dataloader = dict(dataset=dict(cohort, subset='query'))
val_dataloader = None
val_evaluator = None
val_cfg = None
test_evaluator = [
    dict(type='LesionMetric', aggregation='mean', bootstrap_rounds=1000),
    dict(type='Accuracy', topk=(1, )),
]

# A new centre's cohort for few-shot adaptation (configs/fewshot), at 224 px
# (the transforms of ecnbi_lesion_224.py): every lesion folder under
# data_root (or a sheet), cut by FewShotECNBIDataset (seeded, whole lesions,
# patient-aware) into k lesions per class (support, training) and the rest
# (query, test). No validation (few labels: nothing to select on), the last
# weights are tested.
_base_ = ['./ecnbi_lesion_224.py']

cohort = dict(
    type='FewShotECNBIDataset',
    data_root='data/new_centre',
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
test_evaluator = [
    dict(type='LesionMetric', aggregation='mean', bootstrap_rounds=1000),
    dict(type='Accuracy', topk=(1, )),
]

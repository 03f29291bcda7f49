# ecnbi_fewshot_224.py at 64 px (the transforms and loaders of
# ecnbi_lesion_64.py, which has no validation either), with the 40 demo
# lesions as the "new cohort".
_base_ = ['./ecnbi_lesion_64.py']

cohort = dict(
    type='FewShotECNBIDataset',
    data_root='../shared/datasets/ecdl-demo',
    ann_file='',
    sheet_name=None,
    disjoint_with=[],
    shots=4,
    seed=0)
# InfiniteSampler: see ecnbi_fewshot_224.py
train_dataloader = dict(
    batch_size=8,
    dataset=dict(cohort, subset='support'),
    sampler=dict(type='InfiniteSampler', shuffle=True))
test_dataloader = dict(dataset=dict(cohort, subset='query'))
test_evaluator = [
    dict(type='LesionMetric', aggregation='mean', bootstrap_rounds=1000),
    dict(type='Accuracy', topk=(1, )),
]

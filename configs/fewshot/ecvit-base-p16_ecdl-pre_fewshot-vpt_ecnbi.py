# Few-shot adaptation to a new centre (issue 20), visual prompt tuning:
# PromptedECViT, 10 deep prompts per layer; ECViT frozen, prompts and the head
# train. The EC-DL model of the source centre (stage 3,
# ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py; its `backbone.*`), adapted
# to a new centre with k labelled lesions per class (FewShotECNBIDataset:
# seeded, whole lesions, patient-aware) and tested on the rest of the cohort.
# 200 iterations whatever k, no validation (few labels: nothing to select on),
# the last weights are tested.
#   python tools/analysis/fewshot_curve.py --configs \
#       configs/fewshot/ecvit-base-p16_ecdl-pre_fewshot-linear_ecnbi.py \
#       configs/fewshot/ecvit-base-p16_ecdl-pre_fewshot-lora_ecnbi.py ... \
#       --data-root data/new_centre --work-dir work_dirs/fewshot
_base_ = [
    '../_base_/datasets/ecnbi_lesion_224.py',
    '../_base_/default_runtime.py',
]

# the source model's checkpoint (None: random init)
# (point it at the selected best_*.pth, or fewshot_curve.py --pretrained)
pretrained = 'work_dirs/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi/best.pth'  # noqa: E501
init_cfg = None if pretrained is None else dict(
    type='Pretrained', checkpoint=pretrained, prefix='backbone.')
arch = 'base'
ecvit = dict(
    type='PromptedECViT',
    arch=arch,
    img_size=224,
    patch_size=16,
    drop_path_rate=0.,
    out_type='avg_featmap',
    num_prompts=10,
    deep_prompts=True,
    init_cfg=init_cfg)

model = dict(
    type='ImageClassifier',
    backbone=ecvit,
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=3,
        in_channels=768,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

# The new cohort: every lesion folder under data_root (or a sheet), cut
# into k lesions per class (support, training) and the rest (query, test).
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
val_cfg = None
test_evaluator = [
    dict(type='LesionMetric', aggregation='mean', bootstrap_rounds=1000),
    dict(type='Accuracy', topk=(1, )),
]

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=False, T_max=200, eta_min=0.)
]
train_cfg = dict(by_epoch=False, max_iters=200, val_interval=200)
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=200, max_keep_ckpts=1))

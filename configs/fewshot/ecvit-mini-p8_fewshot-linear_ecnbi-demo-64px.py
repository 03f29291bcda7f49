# Few-shot adaptation to a new centre (issue 20), linear probe: ECViT frozen
# (every layer and norm), only the head trains. Tiny random-init variant (2
# layers, 32 wide, 64 px) on the 40 demo lesions as the "new cohort", for tests
# and CPU smoke runs (not a model) with k labelled lesions per class
# (FewShotECNBIDataset: seeded, whole lesions, patient-aware) and tested on the
# rest of the cohort. 20 iterations whatever k, no validation (few labels:
# nothing to select on), the last weights are tested.
#   python tools/analysis/fewshot_curve.py --configs \
#       configs/fewshot/ecvit-mini-p8_fewshot-linear_ecnbi-demo-64px.py \
#       configs/fewshot/ecvit-mini-p8_fewshot-lora_ecnbi-demo-64px.py ... \
#       --data-root ../shared/datasets/ecdl-demo --work-dir \
#       work_dirs/fewshot
_base_ = [
    '../_base_/datasets/ecnbi_fewshot_64.py',
    '../_base_/schedules/fewshot_adamw-coslr-200it.py',
    '../_base_/default_runtime.py',
]

# the source model's checkpoint (None: random init)
pretrained = None
init_cfg = None if pretrained is None else dict(
    type='Pretrained', checkpoint=pretrained, prefix='backbone.')
arch = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
ecvit = dict(
    type='ECViT',
    arch=arch,
    img_size=64,
    patch_size=8,
    drop_path_rate=0.,
    out_type='avg_featmap',
    # every layer, and the norms with them
    frozen_stages=100,
    init_cfg=init_cfg)

model = dict(
    type='ImageClassifier',
    backbone=ecvit,
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=3,
        in_channels=32,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

# 20 iterations (a smoke run, not a model)
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=False, T_max=20, eta_min=0.)
]
train_cfg = dict(max_iters=20, val_interval=20)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=20, max_keep_ckpts=1))

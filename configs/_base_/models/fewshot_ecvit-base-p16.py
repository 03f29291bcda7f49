# The few-shot model at ViT-B/16 (configs/fewshot): the EC-DL model of the
# source centre (stage 3, ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py; its
# `backbone.*`) under a new linear head. `ecvit` is the backbone: a leaf config
# that changes it (frozen stages, prompts) sets `ecvit = dict(...)` and
# `model = dict(backbone=ecvit)`; LoRA wraps {{_base_.ecvit}}.

# the source model's checkpoint (None: random init)
# (point it at the selected best_*.pth, or fewshot_curve.py --pretrained)
pretrained = 'work_dirs/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi/best.pth'  # noqa: E501
init_cfg = None if pretrained is None else dict(
    type='Pretrained', checkpoint=pretrained, prefix='backbone.')
arch = 'base'
ecvit = dict(
    type='ECViT',
    arch=arch,
    img_size=224,
    patch_size=16,
    drop_path_rate=0.,
    out_type='avg_featmap',
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

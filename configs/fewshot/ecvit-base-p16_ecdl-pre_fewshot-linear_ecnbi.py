# Few-shot adaptation to a new centre (issue 20), linear probe: ECViT frozen
# (every layer and norm), only the head trains. The EC-DL model of the source
# centre (stage 3, ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py; its
# `backbone.*`), adapted to a new centre with k labelled lesions per class
# (FewShotECNBIDataset: seeded, whole lesions, patient-aware) and tested on the
# rest of the cohort. 200 iterations whatever k, no validation (few labels:
# nothing to select on), the last weights are tested.
#   python tools/analysis/fewshot_curve.py --configs \
#       configs/fewshot/ecvit-base-p16_ecdl-pre_fewshot-linear_ecnbi.py \
#       configs/fewshot/ecvit-base-p16_ecdl-pre_fewshot-lora_ecnbi.py ... \
#       --data-root data/new_centre --work-dir work_dirs/fewshot
_base_ = [
    '../_base_/datasets/ecnbi_fewshot_224.py',
    '../_base_/schedules/fewshot_adamw-coslr-200it.py',
    '../_base_/default_runtime.py',
]

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
        in_channels=768,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=200, max_keep_ckpts=1))

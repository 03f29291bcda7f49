# EC-DL stage 3: fine-tune the in-domain ECMAE encoder (ViT-B/16) with
# supervised deep clustering: CE (label smoothing 0.1) + 1.0 x class-centre
# loss (tau 0.07), centres recomputed every epoch by ClassCenterHook from the
# previous epoch's features (epoch 0 is plain CE). The release's values: 300
# epochs, batch 64 (8 GPUs x 8), AdamW lr 1e-3 absolute, betas (0.9, 0.999),
# wd 0.05, layer decay 0.75, 5 warm-up epochs from 1e-6, cosine to 1e-6, drop
# path 0.1, no mixup / cutmix, head initialised x 0.001; train transform
# RandomResizedCrop(224, scale (0.08, 1), bicubic) + horizontal flip 0.5 +
# RandAugment rand-m9-mstd0.5-inc1 + random erasing 0.25; test transform: the
# frame resized to 224x224. Checkpoints are selected on the `val` sheet
# (save_best), never on `test`.
#
#   bash tools/dist_train.sh \
#       configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py 8
#   bash tools/dist_test.sh \
#       configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py \
#       work_dirs/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi/best_lesion_accuracy_epoch_*.pth 8  # noqa: E501
#
# Class-balanced sampling: ecdl-clustering_vit-base-p16_8xb8-cbs-300e_ecnbi.py.
_base_ = [
    '../_base_/models/ecvit-base-p16.py',
    # the lesion splits, batch 8 per GPU and save_best on `val`, as the
    # baselines of configs/baselines
    '../_base_/ecnbi_lesion_224_8xb8_save-best.py',
    '../_base_/schedules/ecvit_adamw-layer-decay-coslr.py',
]

# The in-domain MAE checkpoint of stage 2
# (ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py): its encoder is saved as
# `backbone.*` with ECViT's parameter names.
pretrained = 'work_dirs/ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi/epoch_20.pth'  # noqa: E501

model = dict(
    backbone=dict(
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(
        type='SupervisedClusteringHead',
        num_classes=3,
        in_channels=768,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        center_loss=dict(
            type='ClusterCenterLoss', temperature=0.07, loss_weight=1.0)),
)

custom_hooks = [
    # Recomputes the head's centres at the end of every training epoch
    # (momentum=None: full rebuild, as in EC-DL; e.g. 0.9 for an EMA).
    dict(type='ClassCenterHook', momentum=None),
]

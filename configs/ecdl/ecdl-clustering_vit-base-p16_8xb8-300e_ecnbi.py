# EC-DL stage 3: fine-tune the in-domain ECMAE encoder (ViT-B/16) with supervised
# deep clustering: CE (label smoothing 0.1) + 1.0 x class-centre loss (tau 0.07),
# centres recomputed every epoch by ClassCenterHook from the previous epoch's
# features (epoch 0 is plain CE). EC-DL defaults: AdamW lr 1e-3 at batch 64
# (8 GPUs x 8), wd 0.05, layer decay 0.75, 5 warm-up epochs, cosine to 1e-6,
# drop path 0.1, RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25, 300 epochs.
#
#   bash tools/dist_train.sh configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=<ECMAE checkpoint>
#
# Class-balanced sampling: ecdl-clustering_vit-base-p16_8xb8-cbs-300e_ecnbi.py.
_base_ = [
    '../_base_/models/ecvit-base-p16.py',
    '../_base_/datasets/ecnbi_lesion_224.py',
    '../_base_/schedules/ecvit_adamw-layer-decay-coslr.py',
    '../_base_/default_runtime.py',
]

# The in-domain MAE checkpoint of stage 2
# (configs/ecdl/ecmae_vit-base-p16_8xb64-coslr-400e_ecnbi.py): its encoder is
# saved as `backbone.*` with ECViT's parameter names.
pretrained = 'work_dirs/ecmae_vit-base-p16_8xb64-coslr-400e_ecnbi/epoch_400.pth'

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

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.5, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(
        type='RandomFlip',
        prob=[0.25, 0.25],
        direction=['horizontal', 'vertical']),
    {{_base_.ecdl_rand_augment}},  # timm's rand-m9-mstd0.5-inc1
    {{_base_.ecdl_random_erasing}},
    dict(type='PackInputs', meta_keys={{_base_.meta_keys}}),
]

train_dataloader = dict(
    batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8)
test_dataloader = val_dataloader

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=10)
val_cfg = dict()
test_cfg = dict()
# lr 1e-3 is for a total batch of 64; scaled when --auto-scale-lr is given.
auto_scale_lr = dict(base_batch_size=64)

default_hooks = dict(
    checkpoint=dict(
        interval=10, max_keep_ckpts=3, save_best='lesion/accuracy',
        rule='greater'))

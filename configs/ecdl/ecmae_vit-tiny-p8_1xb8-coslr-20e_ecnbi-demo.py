# Tiny CPU demo of stage 2: ECMAE (4-layer, 96-wide ECViT, 8 px patches at
# 64 px) pre-trained on the 20 demo_train images (labels ignored). About a minute on
# 2 CPU cores; its encoder is fine-tuned by
# configs/ecdl/ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px.py.
#   python tools/train.py configs/ecdl/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py
#   python tools/visualize_mae.py configs/ecdl/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py \
#       work_dirs/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo/epoch_20.pth \
#       ../shared/datasets/ecdl-demo --out mae_demo.png
_base_ = [
    '../_base_/models/ecmae_vit-base-p16.py',
    '../_base_/schedules/ecmae_adamw-coslr.py',
    '../_base_/default_runtime.py',
]

tiny_arch = dict(
    embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384,
    _delete_=True)
model = dict(
    backbone=dict(arch=tiny_arch, img_size=64, patch_size=8),
    neck=dict(
        embed_dims=96,
        decoder_embed_dims=64,
        decoder_num_layers=2,
        decoder_num_heads=2,
        patch_size=8),
    head=dict(patch_size=8))

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.3, 1.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
# The demo_train images only (labels unused): pre-training on demo_test images
# would leak the test cohort into the encoder. A real unlabeled cohort is a
# plain folder: dict(type='CustomDataset', data_root=..., with_label=False), as
# in ecmae_vit-base-p16_8xb64-coslr-400e_ecnbi.py.
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='ECNBIDataset',
        data_root='../shared/datasets/ecdl-demo',
        ann_file='dataset_divide.xlsx',
        sheet_name='demo_train',
        disjoint_with=['demo_test'],
        pipeline=train_pipeline))

max_epochs = 20
optim_wrapper = dict(optimizer=dict(lr=1.5e-3))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-2,
        by_epoch=True,
        begin=0,
        end=2,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 2,
        by_epoch=True,
        begin=2,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(interval=max_epochs))

# Tiny CPU demo of stage 2: ECMAE (4-layer, 96-wide ECViT, 8 px patches at
# 64 px) pre-trained from scratch on the 20 demo_train images (labels
# ignored). About a minute on 2 CPU cores; its encoder is fine-tuned by
# configs/ecdl/ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py.
# The release's stage-2 recipe at 64 px, except the lr (1.5e-3: a tiny
# model from scratch, 60 steps) and no stage-1 weights (there is no tiny
# public MAE); see configs/ecdl/README.md.
#   python tools/train.py configs/ecdl/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py
#   python tools/visualize_mae.py configs/ecdl/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py \
#       work_dirs/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo/epoch_20.pth \
#       ../shared/datasets/ecdl-demo --out mae_demo.png
_base_ = [
    '../_base_/models/ecmae_vit-base-p16.py',
    '../_base_/datasets/ecnbi_unlabeled_mae_224.py',
    '../_base_/schedules/ecmae_adamw-coslr-20e.py',
    '../_base_/default_runtime.py',
]

tiny_arch = dict(
    embed_dims=96,
    num_layers=4,
    num_heads=3,
    feedforward_channels=384,
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

# The release's RandomResizedCrop(scale (0.08, 1), bilinear), no flip, at
# 64 px. Decoded at 1/2 (see _base_/datasets/ecnbi_lesion_64.py: the
# smallest crop keeps >= 2 source pixels per output pixel).
train_pipeline = [
    dict(type='LoadResizedImage', scale=488, edge='short', resize=False),
    dict(
        type='RandomResizedCrop',
        scale=64,
        crop_ratio_range=(0.08, 1.0),
        backend='pillow',
        interpolation='bilinear'),
    dict(type='PackInputs'),
]
# The demo_train images only (labels unused), instead of the base's folder of
# unlabeled images: pre-training on demo_test images would leak the test
# cohort into the encoder.
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='ECNBIDataset',
        data_root='../shared/datasets/ecdl-demo',
        ann_file='dataset_divide.xlsx',
        sheet_name='demo_train',
        disjoint_with=['demo_test'],
        pipeline=train_pipeline))

# The release's schedule (20 epochs, 2 warm-up from lr 1e-6, cosine to 1e-5)
# at a 10x peak lr.
lr = 1.5e-3
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(_base_.param_scheduler[0], start_factor=1e-6 / lr),
    _base_.param_scheduler[1],
]
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(interval=_base_.max_epochs))

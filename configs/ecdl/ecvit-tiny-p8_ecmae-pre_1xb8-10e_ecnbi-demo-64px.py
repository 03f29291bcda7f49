# Tiny CPU demo of fine-tuning: the ECViT encoder of the tiny ECMAE demo
# (init_cfg Pretrained, prefix 'backbone.') with a LinearClsHead on the demo
# train / test sheets at 64 px, layer-wise lr decay as in EC-DL.
#   python tools/train.py configs/ecdl/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py
#   python tools/train.py configs/ecdl/ecvit-tiny-p8_ecmae-pre_1xb8-10e_ecnbi-demo-64px.py
_base_ = [
    '../_base_/models/ecvit-base-p16.py',
    '../_base_/datasets/ecnbi_lesion_64.py',
    '../_base_/schedules/ecvit_adamw-layer-decay-coslr.py',
    '../_base_/default_runtime.py',
]

pretrained = 'work_dirs/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo/epoch_20.pth'
model = dict(
    backbone=dict(
        arch=dict(
            embed_dims=96, num_layers=4, num_heads=3,
            feedforward_channels=384, _delete_=True),
        img_size=64,
        patch_size=8,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(in_channels=96))

max_epochs = 10
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-2,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 1,
        eta_min=1e-6,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=5, save_best='lesion/accuracy', rule='greater'))

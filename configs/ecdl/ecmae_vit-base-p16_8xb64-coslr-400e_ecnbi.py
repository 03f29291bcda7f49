# Stage 2, in-domain pre-training: ECMAE ViT-B/16 on a folder of unlabeled
# EC-NBI images (any depth of sub-folders; mmpretrain CustomDataset without
# labels), starting from the stage-1 checkpoint.
#   bash tools/dist_train.sh configs/ecdl/ecmae_vit-base-p16_8xb64-coslr-400e_ecnbi.py 8 \
#       --cfg-options train_dataloader.dataset.data_root=data/ecnbi/unlabeled \
#       load_from=work_dirs/ecmae_vit-base-p16_8xb64-coslr-400e_in1k-generalized/epoch_400.pth
_base_ = [
    '../_base_/models/ecmae_vit-base-p16.py',
    '../_base_/schedules/ecmae_adamw-coslr.py',
    '../_base_/default_runtime.py',
]

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root='data/ecnbi/unlabeled',
        with_label=False,
        pipeline=train_pipeline))

# The stage-1 output (encoder and decoder); or a converted EC-DL MAE release
# (tools/model_converters/ecdl_to_mmpretrain.py gives backbone.* and neck.*).
load_from = 'work_dirs/ecmae_vit-base-p16_8xb64-coslr-400e_in1k-generalized/epoch_400.pth'  # noqa: E501
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
randomness = dict(seed=0, diff_rank_seed=True)

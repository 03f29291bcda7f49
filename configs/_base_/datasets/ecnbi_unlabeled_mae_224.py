# Unlabeled EC-NBI images for in-domain MAE pre-training (stage 2 of EC-DL):
# every image under data_root, at any depth of sub-folders (mmpretrain's
# CustomDataset without labels). The release's transform:
# RandomResizedCrop(224, scale (0.08, 1), bilinear), no flip, loaded with
# LoadRandomResizedCrop: mmpretrain's RandomResizedCrop boxes (same random
# draws), each decoded at the JPEG reduction that keeps >= 224 px across it
# and resized with Pillow's bilinear filter computed by torch (see
# ecnbi_lesion_224.py).
# Never put the images of a test cohort here.
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(
        type='LoadRandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.08, 1.0),
        backend='torch',
        interpolation='bilinear'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root='data/ecnbi/unlabeled',
        with_label=False,
        pipeline=train_pipeline))

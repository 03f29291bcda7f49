# EC-NBI lesion dataset at 224 px (stage 3 of EC-DL): a cohort laid out as
# <data_root>/<class>/<lesion_index>/Images/*.jpg with a split workbook whose
# sheets `train`, `val` and `test` (tools/dataset_converters/make_splits.py
# writes them) list the lesions of each split. The three splits must be
# pairwise disjoint by lesion and by patient: every dataset checks it against
# the other two when it is built. Checkpoints are selected on `val` only;
# `test` is evaluated once, at the end. data_root is relative to the
# repository root, where tools/*.py run; point it at a cohort with
#   --cfg-options train_dataloader.dataset.data_root=... (and val / test).
dataset_type = 'ECNBIDataset'
data_root = 'data/ecnbi'
ann_file = 'splits.xlsx'

data_preprocessor = dict(
    num_classes=3,
    # RGB format normalization parameters
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    # convert image from BGR to RGB
    to_rgb=True,
)

# `lesion_id` / `patient_id` must reach the data samples: LesionMetric groups
# image predictions by lesion through them.
meta_keys = ('sample_idx', 'img_path', 'ori_shape', 'img_shape',
             'scale_factor', 'flip', 'flip_direction', 'lesion_id',
             'patient_id')

# The EC-DL fine-tuning augmentations (the release's timm create_transform),
# referenced as {{_base_.ecdl_rand_augment}} / {{_base_.ecdl_random_erasing}}:
# RandAugment rand-m9-mstd0.5-inc1, and random erasing with probability 0.25,
# one box, per-pixel normal noise in the normalised space (timm's 'pixel'
# mode: mean and std of the data preprocessor, BGR order here).
# RandAugmentLUT: mmpretrain's RandAugment (the same policies, random draws
# and pixels) with AutoContrast, Equalize, Solarize and SolarizeAdd computed
# through lookup tables, 10x-19x faster (ecdl_mm/datasets/transforms/
# lut_ops.py; tests/test_datasets/test_transforms/test_lut_ops.py).
# RandomErasingFast: mmpretrain's RandomErasing, the same draws and pixels,
# its noise drawn as standard_normal * std + mean (random_erasing.py).
ecdl_rand_augment = dict(
    type='RandAugmentLUT',
    policies='timm_increasing',
    num_policies=2,
    total_level=10,
    magnitude_level=9,
    magnitude_std=0.5,
    hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic'))
ecdl_random_erasing = dict(
    type='RandomErasingFast',
    erase_prob=0.25,
    mode='rand',
    min_area_ratio=0.02,
    max_area_ratio=1 / 3,
    fill_color=[103.53, 116.28, 123.675],
    fill_std=[57.375, 57.12, 58.395])

# The release's train transform: RandomResizedCrop(224, scale (0.08, 1),
# bicubic), horizontal flip 0.5, RandAugment, random erasing.
# LoadRandomResizedCrop is LoadImageFromFile + mmpretrain's RandomResizedCrop
# (the same boxes from the same random draws) that decodes only the
# resolution the box needs: the box is drawn from the JPEG header's size and
# libjpeg decodes at the strongest reduction (1/2, 1/4, 1/8) that keeps
# >= 224 px across the box. With a TurboJPEG 3 library (tools/install.sh
# installs one) only the box's region is decoded, in a restart-marked copy
# of the data (tools/dataset_converters/add_restart_markers.py) only the
# box's MCUs: identical crops either way. backend='torch' resizes the box
# with Pillow's bicubic filter computed by torch (within 1 grey level of
# Pillow's; a box decoded at 1/2 or 1/4 rounded to whole reduced pixels;
# 'pillow' keeps Pillow itself). With RandAugmentLUT and RandomErasingFast
# above: 3.14x-3.26x the images per core of this pipeline with the full
# decode and mmpretrain's RandAugment and RandomErasing, 3.4x on a
# restart-marked copy (configs/ecdl/README.md,
# Deviations; docs/benchmarks.md).
train_pipeline = [
    dict(
        type='LoadRandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.08, 1.0),
        backend='torch',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    ecdl_rand_augment,
    ecdl_random_erasing,
    dict(type='PackInputs', meta_keys=meta_keys),
]

# The release's test transform: the whole frame resized to 224x224 (aspect
# ratio not kept, no crop). Fast loading: libjpeg decodes the JPEG at the
# strongest reduction that keeps the short edge >= 448 = 2 x 224 (1/2:
# 580x505 for the 1160x1009 frames), then it is resized as the release does:
# 3.3x faster loading, 0.74 mean grey levels from the full decode, no lesion
# decision changed (configs/ecdl/README.md).
test_pipeline = [
    dict(type='LoadResizedImage', scale=448, edge='short', resize=False),
    dict(
        type='Resize',
        scale=(224, 224),
        keep_ratio=False,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='PackInputs', meta_keys=meta_keys),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    # one (B, 3, H, W) uint8 tensor per batch, so the data preprocessor
    # copies and normalises the batch at once (pseudo_collate's per-image
    # list costs four kernels and a copy per image); tools/train.py sets it
    # too, this also serves a Runner built from the config directly.
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=ann_file,
        sheet_name='train',
        # refuse a lesion or patient shared with another split (leakage)
        disjoint_with=['val', 'test'],
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=ann_file,
        sheet_name='val',
        disjoint_with=['train', 'test'],
        test_mode=True,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# As val_dataloader, on the test sheet.
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        val_dataloader['dataset'],
        sheet_name='test',
        disjoint_with=['train', 'val']))
# Validation (on `val`) skips the bootstrap: it runs every few epochs.
val_evaluator = [
    dict(type='LesionMetric', aggregation='mean', bootstrap_rounds=0),
    dict(type='Accuracy', topk=(1, )),
]
# Set out_dir to also get per-image / per-lesion CSVs, metrics.json and plots.
test_evaluator = [
    dict(
        type='LesionMetric',
        aggregation='mean',
        bootstrap_rounds=1000,
        out_dir=None),
    dict(type='Accuracy', topk=(1, )),
]

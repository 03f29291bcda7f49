# EC-NBI lesion dataset, 224 px (the EC-DL input size).
# Reads <data_root>/<class>/<lesion_index>/Images/*.jpg restricted by the split
# sheets of dataset_divide.xlsx; data_root is relative to the repository root,
# where tools/*.py run. Point it at a real cohort with
#   --cfg-options train_dataloader.dataset.data_root=... (and val/test).
dataset_type = 'ECNBIDataset'
data_root = '../shared/datasets/ecdl-demo'
ann_file = 'dataset_divide.xlsx'

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

# The EC-DL fine-tuning augmentations, referenced by the fine-tuning configs as
# {{_base_.ecdl_rand_augment}} / {{_base_.ecdl_random_erasing}}: timm's
# rand-m9-mstd0.5-inc1 and random erasing with probability 0.25.
ecdl_rand_augment = dict(
    type='RandAugment',
    policies='timm_increasing',
    num_policies=2,
    total_level=10,
    magnitude_level=9,
    magnitude_std=0.5,
    hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic'))
ecdl_random_erasing = dict(
    type='RandomErasing',
    erase_prob=0.25,
    mode='rand',
    min_area_ratio=0.02,
    max_area_ratio=1 / 3,
    fill_color=[103.53, 116.28, 123.675],
    fill_std=[57.375, 57.12, 58.395])

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal',
                                                           'vertical']),
    dict(type='PackInputs', meta_keys=meta_keys),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=224, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs', meta_keys=meta_keys),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=ann_file,
        sheet_name='demo_train',
        # refuse a lesion or patient shared with the test split (leakage)
        disjoint_with=['demo_test'],
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=ann_file,
        sheet_name='demo_test',
        test_mode=True,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# Validation skips the bootstrap (it runs every epoch); select checkpoints
# with default_hooks.checkpoint.save_best='lesion/accuracy'.
val_evaluator = [
    dict(type='LesionMetric', aggregation='mean', bootstrap_rounds=0),
    dict(type='Accuracy', topk=(1, )),
]

test_dataloader = val_dataloader
# Set out_dir to also get per-image / per-lesion CSVs, metrics.json and plots.
test_evaluator = [
    dict(
        type='LesionMetric',
        aggregation='mean',
        bootstrap_rounds=1000,
        out_dir=None),
    dict(type='Accuracy', topk=(1, )),
]

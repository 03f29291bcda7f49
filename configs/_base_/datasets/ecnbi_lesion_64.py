# EC-NBI lesion dataset, 64 px: a tiny size for CPU demos and tests.
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

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal',
                                                           'vertical']),
    dict(type='PackInputs', meta_keys=meta_keys),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=64, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs', meta_keys=meta_keys),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
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
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
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

# EC-NBI demo data at 64 px, for CPU demos and tests: the 40 real images of
# ../shared/datasets/ecdl-demo, split by the sheets demo_train / demo_test of
# dataset_divide.xlsx. The transforms are the EC-DL ones of
# ecnbi_lesion_224.py at 64 px. The demo has no validation sheet, so it has
# no validation: nothing is selected on demo_test, which is evaluated once,
# on the last epoch's weights.
_base_ = ['./ecnbi_lesion_224.py']

data_root = '../shared/datasets/ecdl-demo'
ann_file = 'dataset_divide.xlsx'

# Fast loading, training too, with the rule of ecnbi_lesion_224.py (>= 2
# source pixels per output pixel along each side): the smallest crop
# RandomResizedCrop(scale 0.08, aspect 3/4..4/3) can draw is 0.26 x the short
# edge, so the short edge must be >= 2 x 64 / 0.26 = 488: decoded at 1/2
# (580x505 for the 1160x1009 frames), its smallest crop is 132 px >= 128.
train_pipeline = [
    dict(type='LoadResizedImage', scale=488, edge='short', resize=False),
    dict(
        type='RandomResizedCrop',
        scale=64,
        crop_ratio_range=(0.08, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    {{_base_.ecdl_rand_augment}},
    {{_base_.ecdl_random_erasing}},
    dict(type='PackInputs', meta_keys={{_base_.meta_keys}}),
]
# Decoded with a short edge >= 128 = 2 x 64 (1/4: 290x253), then the whole
# frame resized to 64x64.
test_pipeline = [
    dict(type='LoadResizedImage', scale=128, edge='short', resize=False),
    dict(
        type='Resize',
        scale=(64, 64),
        keep_ratio=False,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='PackInputs', meta_keys={{_base_.meta_keys}}),
]

loader = dict(batch_size=8, num_workers=0, persistent_workers=False)
train_dataloader = dict(
    **loader,
    dataset=dict(
        data_root=data_root,
        ann_file=ann_file,
        sheet_name='demo_train',
        disjoint_with=['demo_test'],
        pipeline=train_pipeline))
test_dataloader = dict(
    **loader,
    dataset=dict(
        data_root=data_root,
        ann_file=ann_file,
        sheet_name='demo_test',
        disjoint_with=['demo_train'],
        pipeline=test_pipeline))
# No validation split in the demo (see above).
val_dataloader = None
val_evaluator = None

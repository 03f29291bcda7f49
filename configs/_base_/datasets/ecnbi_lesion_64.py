# EC-NBI lesion dataset, 64 px: a tiny size for CPU demos and tests. Everything
# but the image size, batch size and workers comes from ecnbi_lesion_224.py.
_base_ = ['./ecnbi_lesion_224.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal',
                                                           'vertical']),
    dict(type='PackInputs', meta_keys={{_base_.meta_keys}}),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=64, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs', meta_keys={{_base_.meta_keys}}),
]

loader = dict(batch_size=8, num_workers=0, persistent_workers=False)
train_dataloader = dict(**loader, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(**loader, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

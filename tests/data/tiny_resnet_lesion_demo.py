# Copyright (c) ecdl_mm contributors. All rights reserved.
# Tiny classifier over the demo's lesion sheets (ECNBIDataset, LesionMetric)
# for the operating-point tests; data_root is overridden by the tests.
_base_ = ['../../configs/_base_/default_runtime.py']

data_root = '../shared/datasets/ecdl-demo'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=18, base_channels=8, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=3,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss')))
data_preprocessor = dict(
    num_classes=3,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
meta_keys = ('img_path', 'lesion_id', 'patient_id')
test_pipeline = [
    dict(type='LoadResizedImage', scale=64, edge='short', resize=False),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='PackInputs', meta_keys=meta_keys),
]
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ECNBIDataset',
        data_root=data_root,
        ann_file='dataset_divide.xlsx',
        sheet_name='demo_test',
        pipeline=test_pipeline))
test_evaluator = [dict(type='LesionMetric', bootstrap_rounds=20)]
test_cfg = dict()
val_dataloader = None
val_evaluator = None
val_cfg = None

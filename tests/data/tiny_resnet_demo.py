# Copyright (c) ecdl_mm contributors. All rights reserved.
# Tiny, deterministic classifier on the demo images used by the foundation tests.
# data_root is overridden by the tests (the demo lives in ../shared).
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
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,  # stock mmpretrain tools default it to True
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root=data_root, pipeline=pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,  # stock mmpretrain tools default it to True
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root=data_root, pipeline=pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[2])
default_hooks = dict(logger=dict(interval=1))

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The shipped ``-gpu-augment`` stage-3 config shrunk to the demo: the demo
model (64 px, random weights), the demo_train sheet, no validation."""
import os.path as osp

from mmengine.config import Config

GPU_AUGMENT = 'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi-gpu-augment.py'
DEMO_STAGE3 = 'ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py'


def gpu_augment_demo_cfg(repo_root, demo_root, work_dir, epochs=2):
    """The config as ``tools/train.py`` would run it (its pipeline, collate,
    data preprocessor and training loop), on the demo."""
    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'ecdl', GPU_AUGMENT))
    demo = Config.fromfile(osp.join(repo_root, 'configs', 'ecdl', DEMO_STAGE3))
    cfg.model = demo.model
    cfg.model.backbone.init_cfg = None  # random weights, no stage 2 file
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline[0].scale = 64
    cfg.train_dataloader.update(
        batch_size=8,
        num_workers=0,
        persistent_workers=False,
        dataset=dict(
            demo.train_dataloader.dataset.dataset,
            data_root=demo_root,
            pipeline=pipeline))
    cfg.optim_wrapper = dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3))
    for key in ('param_scheduler', 'val_dataloader', 'val_evaluator',
                'val_cfg', 'test_dataloader', 'test_evaluator', 'test_cfg'):
        cfg[key] = None
    cfg.train_cfg.max_epochs = epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=0)
    return cfg

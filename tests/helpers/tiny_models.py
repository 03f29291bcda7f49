# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The tiny models of the tests."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')
#: The demo ResNet config the API and tool tests run (64 px).
TINY_CONFIG = 'configs/ecdl/resnet18-tiny_1xb8-10e_ecnbi-demo-64px.py'
#: The one tiny ViT of the tests (``arch`` of ``ECViT`` / mmpretrain's ViTs).
TINY_VIT_ARCH = dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def save_tiny_checkpoint(repo_root, path, seed=0):
    """Randomly initialised demo model saved as an mmengine checkpoint."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(repo_root, TINY_CONFIG))
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=CLASSES))), path)
    return cfg

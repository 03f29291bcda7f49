# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The tiny model and short demo video of the live-CAD tests."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')
CONFIG = 'configs/ecdl/resnet18-tiny_1xb8-10e_ecnbi-demo-64px.py'
SHORT_PHASES = (('no_contact', 3), ('approach', 6), ('contact', 6),
                ('motion', 2), ('contact', 3), ('halation', 2), ('contact', 3),
                ('withdraw', 16))


def save_tiny_checkpoint(repo_root, path, seed=0):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    # a less uniform head, so that classes and confidences differ by image
    torch.nn.init.normal_(model.head.fc.weight, std=0.5)
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=CLASSES))), path)
    return path

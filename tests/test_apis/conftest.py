# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Fixtures of the inference tests: a tiny checkpoint and a stream
inferencer over it (one per test module)."""
import os.path as osp

import pytest
from helpers.stream import CONFIG, save_tiny_checkpoint

from ecdl_mm.live import StreamInferencer


@pytest.fixture(scope='module')
def tiny(repo_root, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    return save_tiny_checkpoint(repo_root, path)


@pytest.fixture(scope='module')
def inferencer(repo_root, tiny):
    return StreamInferencer(
        osp.join(repo_root, CONFIG),
        tiny,
        device='cpu',
        min_confidence=0.4,
        min_frames=2)

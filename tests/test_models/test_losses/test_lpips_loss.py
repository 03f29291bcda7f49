# Copyright (c) ecdl_mm contributors. All rights reserved.
"""LPIPSLoss: wrapper of the lpips package with random nets (no download)."""
import sys

import pytest
import torch
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401


def test_matches_lpips_package_and_is_frozen():
    lpips = pytest.importorskip('lpips')
    torch.manual_seed(0)
    loss = MODELS.build(
        dict(
            type='LPIPSLoss',
            net='alex',
            pretrained_trunk=False,
            loss_weight=2.0))
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    # same random trunk evaluated by the package itself on [-1, 1] inputs
    ref = lpips.LPIPS.forward(loss.lpips_net, a * 2 - 1, b * 2 - 1).mean()
    torch.testing.assert_close(loss(a, b), 2 * ref)
    assert list(loss.parameters()) == [] and loss.state_dict() == {}


def test_bad_net_and_missing_package(monkeypatch):
    with pytest.raises(ValueError, match="net='resnet'"):
        MODELS.build(dict(type='LPIPSLoss', net='resnet'))
    monkeypatch.setitem(sys.modules, 'lpips', None)
    with pytest.raises(ImportError, match='pip install lpips'):
        MODELS.build(dict(type='LPIPSLoss', pretrained_trunk=False))

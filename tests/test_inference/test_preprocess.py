# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Pre-processing on the device equals the CPU test pipeline (CPU tensors:
the GPU runs the same code on another device)."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS, TRANSFORMS

from ecdl_mm.inference import DevicePreprocessor, UnsupportedTransform
from ecdl_mm.inference.frame_loader import LoadFrame
from ecdl_mm.inference.preprocess import device_preprocessor

VIT_B = 'configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py'
TINY = 'configs/ecdl/resnet18-tiny_1xb8-10e_ecnbi-demo-64px.py'


def _levels(x, dev):
    """Normalised values back in grey levels."""
    return x * dev.std if dev.std is not None else x


@pytest.mark.parametrize('config,crop', [(VIT_B, None), (TINY, 0.875)])
def test_device_preprocessing_equals_the_cpu_pipeline(repo_root, demo_root,
                                                      config, crop):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(repo_root, config))
    pipe = list(cfg.test_dataloader.dataset.pipeline)
    if crop:
        pipe = [pipe[0], dict(type='CenterCropRatio', ratio=crop)] + pipe[1:]
    model_cfg = dict(cfg.model)
    model_cfg['backbone'] = dict(type='ResNet', depth=18)  # only the
    model_cfg['head'] = None  # data preprocessor is used
    model_cfg.pop('neck', None)
    pre = MODELS.build(model_cfg).data_preprocessor
    still = Compose([TRANSFORMS.build(t) for t in pipe])
    frame_pipe = Compose([LoadFrame(pipe[0])] +
                         [TRANSFORMS.build(t) for t in pipe[1:]])
    loader = TRANSFORMS.build(pipe[0])
    dev_still = DevicePreprocessor.from_model(pipe, pre, 'cpu')
    dev_frame = DevicePreprocessor.from_model(pipe, pre, 'cpu', frames=True)
    paths = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images', '*')))[:2]
    # stills: decoded in the loader (workers), the rest on the device;
    # frames: decoded at full size (1160 x 1009), all of it on the device
    ref = pre(
        default_collate([still(dict(img_path=p)) for p in paths]),
        False)['inputs']
    got = dev_still([loader(dict(img_path=p))['img'] for p in paths])
    frames = [cv2.imread(p) for p in paths]
    ref_f = pre(
        default_collate([frame_pipe(dict(img=f)) for f in frames]),
        False)['inputs']
    got_f = dev_frame(frames)
    for r, g in ((ref, got), (ref_f, got_f)):
        assert g.shape == r.shape and g.dtype == torch.float32
        diff = _levels((g - r).abs(), dev_still)
        # the stated tolerance: <= 1 grey level, >= 99.9% exactly equal
        assert float(diff.max()) <= 1.0 + 1e-3
        assert float((diff < 1e-3).float().mean()) >= 0.999
    # a different-size batch goes image by image, same values
    mixed = [frames[0], cv2.resize(frames[1], (700, 600))]
    ref_m = pre(
        default_collate([frame_pipe(dict(img=f)) for f in mixed]),
        False)['inputs']
    diff = _levels((dev_frame(mixed) - ref_m).abs(), dev_still)
    assert float(diff.max()) <= 1.0 + 1e-3


def test_unsupported_transforms_and_modes(repo_root):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(repo_root, TINY))
    model = MODELS.build(cfg.model)
    pipe = list(cfg.test_dataloader.dataset.pipeline)
    odd = [pipe[0], dict(type='ColorJitter', brightness=0.1)] + pipe[1:]
    with pytest.raises(UnsupportedTransform, match="'ColorJitter'"):
        device_preprocessor(odd, model, 'device')
    # auto: the CPU pipeline on a CPU model (it is faster there), and on a
    # pipeline the device cannot run
    assert device_preprocessor(pipe, model, 'auto') is None
    assert device_preprocessor(pipe, model, 'pipeline') is None
    assert isinstance(
        device_preprocessor(pipe, model, 'device'), DevicePreprocessor)
    with pytest.raises(ValueError, match="preprocess='gpu' must be one of"):
        device_preprocessor(pipe, model, 'gpu')
    # a grey (H, W) image is expanded to three channels, as the loader does
    dev = device_preprocessor(pipe, model, 'device')
    grey = np.full((80, 90), 7, np.uint8)
    out = dev([grey])
    assert out.shape == (1, 3, 64, 64)
    torch.testing.assert_close(out[0, 0], out[0, 2])


def test_area_weights_are_made_once_per_size():
    from ecdl_mm.inference.preprocess import _AREA_WEIGHTS, _area_weights
    like = torch.zeros(1)
    _AREA_WEIGHTS.clear()
    w = _area_weights(1009, 252, like)
    assert _area_weights(1009, 252, like) is w  # the live path's frames
    other = _area_weights(1010, 252, like)
    assert other is not w and other.shape == (252, 1010)
    # each row averages the input interval it covers: weights sum to 1
    torch.testing.assert_close(w.sum(1), torch.ones(252))
    # OpenCV's INTER_AREA on a row of the same size gives the same values
    row = np.random.default_rng(0).integers(0, 256,
                                            (1, 1009)).astype(np.float32)
    ref = cv2.resize(row, (252, 1), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(
        (torch.from_numpy(row) @ w.t()).numpy(), ref, rtol=1e-4, atol=1e-3)

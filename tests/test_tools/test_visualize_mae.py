# Copyright (c) ecdl_mm contributors. All rights reserved.
"""tools/visualize_mae.py writes an original / masked / reconstruction grid."""
import importlib.util
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from PIL import Image

import ecdl_mm  # noqa: F401

CFG = 'configs/ecdl/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py'


def load_tool(repo_root):
    spec = importlib.util.spec_from_file_location(
        'visualize_mae', osp.join(repo_root, 'tools', 'visualize_mae.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_grid_png(tmp_path, repo_root, demo_root):
    cfg = Config.fromfile(osp.join(repo_root, CFG))
    cfg.model.data_preprocessor = cfg.data_preprocessor
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = tmp_path / 'ecmae.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = tmp_path / 'grid.png'
    tool = load_tool(repo_root)
    tool.main([
        osp.join(repo_root, CFG),
        str(ckpt),
        osp.join(demo_root, 'adenomas'),
        '--out',
        str(out),
        '--num',
        '2',
        '--zoom',
        '1',
    ])
    image = np.asarray(Image.open(out))
    header, grid = image[:tool.HEADER_H], image[tool.HEADER_H:]
    assert grid.shape == (2 * 64, 3 * 64, 3)
    assert (header < 128).any()  # the column titles are drawn
    original, masked = grid[:64, :64], grid[:64, 64:128]
    # 75% of the 8x8 patches are grey in the masked column, none elsewhere
    patches = masked.reshape(8, 8, 8, 8, 3).transpose(0, 2, 1, 3, 4)
    grey = (np.abs(patches.astype(int) - 128) <= 1).all(axis=(2, 3, 4))
    assert grey.sum() == 48
    vis = ~grey
    orig_patches = original.reshape(8, 8, 8, 8, 3).transpose(0, 2, 1, 3, 4)
    assert np.array_equal(patches[vis], orig_patches[vis])


def test_default_zoom_enlarges_small_tiles(tmp_path, repo_root, demo_root):
    cfg = Config.fromfile(osp.join(repo_root, CFG))
    cfg.model.data_preprocessor = cfg.data_preprocessor
    ckpt = tmp_path / 'ecmae.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, ckpt)
    out = tmp_path / 'grid.png'
    tool = load_tool(repo_root)
    tool.main([
        osp.join(repo_root, CFG),
        str(ckpt),
        osp.join(demo_root, 'adenomas'), '--out',
        str(out), '--num', '1'
    ])
    with Image.open(out) as im:  # 64 px tiles shown at 3x (192 px)
        assert im.size == (3 * 192, 192 + tool.HEADER_H)

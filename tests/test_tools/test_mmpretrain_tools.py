# Copyright (c) ecdl_mm contributors. All rights reserved.
"""mmpretrain's own tools (shipped in its wheel under .mim/tools) run on our
configs through custom_imports: get_flops, vis_cam (ECViT, no class token),
confusion_matrix on the lesion dataset and analyze_logs on our training log."""
import glob
import json
import os.path as osp
import re

import mmpretrain
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from PIL import Image

import ecdl_mm  # noqa: F401

TOOLS = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools')
VIT_CFG = 'configs/ecdl/ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px.py'
RESNET_CFG = 'configs/ecdl/resnet18-tiny_1xb8-10e_ecnbi-demo-64px.py'


def _data_opts(demo_root):
    return [
        f'{split}_dataloader.dataset.data_root={demo_root}'
        for split in ('train', 'test')  # the demo has no validation
    ]


@pytest.fixture(scope='module')
def vit_checkpoint(repo_root, tmp_path_factory):
    cfg = Config.fromfile(osp.join(repo_root, VIT_CFG))
    cfg.model.backbone.pop('init_cfg', None)  # no pretrained file needed
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    path = tmp_path_factory.mktemp('vit') / 'ecvit_tiny.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


def assert_drawn_png(path, size):
    """A PNG of ``size`` pixels with a drawing on it: at least 3 colours
    and 1 % of the pixels off the background colour."""
    with Image.open(path) as img:
        assert img.format == 'PNG' and img.size == size, (img.format, img.size)
        pixels = np.asarray(img.convert('RGB')).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    assert len(colours) >= 3
    assert 1 - counts.max() / len(pixels) >= 0.01


def _parse_size(text, key):
    """'Flops: 29.737M' -> 29737000.0 (the tool prints 3 decimals)."""
    match = re.search(rf'^{key}: ([0-9.]+)([KMG]?)$', text, re.M)
    assert match, f'no {key!r} line in:\n{text[-2000:]}'
    scale = {'': 1, 'K': 1e3, 'M': 1e6, 'G': 1e9}[match.group(2)]
    return float(match.group(1)) * scale, scale


def test_get_flops_on_ecvit_config(run_tool, repo_root):
    size = 64
    proc = run_tool([
        f'{TOOLS}/analysis_tools/get_flops.py', VIT_CFG, '--shape',
        str(size)
    ])
    flops, flops_unit = _parse_size(proc.stdout, 'Flops')
    params, params_unit = _parse_size(proc.stdout, 'Params')

    cfg = Config.fromfile(osp.join(repo_root, VIT_CFG))
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    bb = model.backbone
    # Counted by hand, as mmengine's counter does (one multiply-add = one
    # flop; LayerNorm 5 per element; GELU, softmax and the attention
    # matmuls inside scaled_dot_product_attention are not counted). The
    # tool analyses the backbone only.
    C, F_ = bb.embed_dims, bb.arch_settings['feedforward_channels']
    N = (size // bb.patch_size)**2
    expected = (
        N * C * 3 * bb.patch_size**2  # patch embedding conv
        + bb.num_layers * (N * (3 * C * C + C * C + 2 * C * F_) + 2 * 5 * N * C
                           )  # qkv, proj, MLP, 2 LN
        + 5 * C)  # fc_norm of the pooled feature
    assert abs(flops - expected) <= 0.5e-3 * flops_unit, (flops, expected)
    n_params = sum(p.numel() for p in model.parameters())
    assert abs(params - n_params) <= 0.5e-3 * params_unit, (params, n_params)


def test_vis_cam_on_ecvit(run_tool, demo_root, vit_checkpoint, tmp_path):
    image = sorted(glob.glob(f'{demo_root}/adenomas/*/Images/*.jpg'))[0]
    out = tmp_path / 'cam.png'
    run_tool([
        f'{TOOLS}/visualization/vis_cam.py', image, VIT_CFG, vit_checkpoint,
        '--vit-like', '--save-path',
        str(out), '--cfg-options', 'model.backbone.init_cfg=None'
    ])
    with Image.open(out) as cam:
        assert cam.size == (64, 64)


def test_confusion_matrix_and_analyze_logs(run_tool, demo_root, tmp_path):
    work = tmp_path / 'train'
    run_tool([
        'tools/train.py', RESNET_CFG, '--work-dir',
        str(work), '--cfg-options', 'train_cfg.max_epochs=1',
        *_data_opts(demo_root)
    ])

    out = tmp_path / 'cm.png'
    run_tool([
        f'{TOOLS}/analysis_tools/confusion_matrix.py', RESNET_CFG,
        str(work / 'epoch_1.pth'), '--show-path',
        str(out), '--include-values', '--cfg-options', *_data_opts(demo_root)
    ])
    # ConfusionMatrix.plot: a 10 x 10 inch figure at 100 dpi, drawn
    assert_drawn_png(out, (1000, 1000))

    log = glob.glob(f'{work}/*/vis_data/*.json')
    assert log, 'no json log written'
    curve = tmp_path / 'loss.png'
    run_tool([
        f'{TOOLS}/analysis_tools/analyze_logs.py', 'plot_curve', log[0],
        '--keys', 'loss', '--out',
        str(curve)
    ])
    # plot_curve: the default 12 x 7 inch window at 100 dpi, drawn
    assert_drawn_png(curve, (1200, 700))
    with open(log[0]) as f:
        records = [json.loads(line) for line in f]
    assert sum('loss' in r for r in records) >= 1  # what it plots

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""mmpretrain's own tools (shipped in its wheel under .mim/tools) run on our
configs through custom_imports: get_flops, vis_cam (ECViT, no class token),
confusion_matrix on the lesion dataset and analyze_logs on our training log."""
import glob
import json
import os.path as osp
import re

import cv2
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
    # The config's head starts near zero (std 2e-5): with it every token's
    # Grad-CAM value on this random encoder is negative, and the map is a
    # constant 0 (a plain blue tint). A larger head gives a map to check.
    torch.nn.init.normal_(model.head.fc.weight, std=0.5)
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


def test_get_flops_on_ecvit_config(run_script, repo_root):
    size = 64
    proc = run_script([
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


def _reference_grad_cam(cfg_path, checkpoint, image):
    """Grad-CAM of the model's top class, written out here: the test
    pipeline's 64 px BGR image, and its 64 x 64 heat map in [0, 1].

    The target is the last block's output norm (``layers[-1].ln2``: the
    last token-level norm). Each token is put where its patch is, found by
    probing ``embed`` with one lit patch at a time, so a token order the
    tool's row-major reshape does not expect shows up as a different map.
    """
    from mmcv.transforms import Compose
    from mmpretrain.registry import TRANSFORMS
    cfg = Config.fromfile(cfg_path)
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    model.load_state_dict(
        torch.load(checkpoint, weights_only=True)['state_dict'])
    model.eval()
    pipeline = Compose(
        [TRANSFORMS.build(t) for t in cfg.test_dataloader.dataset.pipeline])
    src = pipeline(dict(img_path=image))['inputs'].numpy().transpose(1, 2, 0)
    prep = cfg.data_preprocessor
    rgb = src[..., ::-1].astype(np.float32)
    x = torch.from_numpy((rgb - np.float32(prep.mean)) /
                         np.float32(prep.std)).permute(2, 0,
                                                       1)[None].contiguous()

    bb = model.backbone
    size, patch = x.shape[-1], bb.patch_size
    grid = size // patch
    probes = torch.zeros(grid * grid, 3, size, size)
    for i in range(grid * grid):
        r, c = divmod(i, grid)
        probes[i, :, r * patch:(r + 1) * patch, c * patch:(c + 1) * patch] = 1
    with torch.no_grad():
        lit = bb.embed(probes)[0] - bb.embed(torch.zeros(1, 3, size, size))[0]
    # token t holds the patch whose probe moves it
    where = lit.abs().sum(-1).argmax(0)  # (N, ) probe index per token
    assert sorted(where.tolist()) == list(range(grid * grid))

    saved = {}

    def keep(module, inputs, output):
        saved['act'] = output
        output.register_hook(lambda grad: saved.update(grad=grad))

    handle = bb.layers[-1].ln2.register_forward_hook(keep)
    try:
        logits = model(x)
        logits[0, logits[0].argmax()].backward()
    finally:
        handle.remove()
    act, grad = saved['act'][0].detach(), saved['grad'][0]  # (N, C)
    weights = grad.mean(0)  # the mean gradient over the map, per channel
    per_token = torch.relu((act * weights).sum(-1)).numpy()
    cam = np.zeros(grid * grid, np.float32)
    cam[where.numpy()] = per_token
    cam = cam.reshape(grid, grid)
    cam = (cam - cam.min()) / (1e-7 + (cam - cam.min()).max())
    cam = cv2.resize(cam, (size, size))  # bilinear, as pytorch_grad_cam
    cam = (cam - cam.min()) / (1e-7 + (cam - cam.min()).max())
    return src, cam


def test_vis_cam_on_ecvit(run_script, repo_root, demo_root, vit_checkpoint,
                          tmp_path):
    image = sorted(glob.glob(f'{demo_root}/adenomas/*/Images/*.jpg'))[0]
    out = tmp_path / 'cam.png'
    run_script([
        f'{TOOLS}/visualization/vis_cam.py', image, VIT_CFG, vit_checkpoint,
        '--vit-like', '--save-path',
        str(out), '--cfg-options', 'model.backbone.init_cfg=None'
    ])
    saved = cv2.imread(str(out)).astype(int)  # BGR, as written
    assert saved.shape == (64, 64, 3)

    src, cam = _reference_grad_cam(
        osp.join(repo_root, VIT_CFG), vit_checkpoint, image)
    # a map with structure, not a constant (which would be a plain tint)
    assert cam.std() > 0.1 and cam.max() > 0.99 and cam.min() < 0.01
    # the overlay (pytorch_grad_cam's show_cam_on_image: half the JET
    # colour map, half the image, scaled to its maximum) of that map
    heat = cv2.applyColorMap(np.uint8(255 * cam), cv2.COLORMAP_JET) / 255
    blend = 0.5 * heat + 0.5 * src / 255
    expected = np.uint8(255 * blend / blend.max()).astype(int)
    # the saved overlay is the reference's (float sums: 1-2 levels)...
    diff = int(np.abs(saved - expected).max())
    assert diff <= 2, f'the overlay differs from the reference by {diff}'
    # ...and not the input image: the heat map is in it, pixel by pixel
    assert np.abs(saved - src).mean() > 20
    recovered = 2 * saved / 255 * blend.max() - src / 255  # ~ heat (BGR)
    corr = np.corrcoef(recovered.ravel(), heat.ravel())[0, 1]
    assert corr > 0.99, corr


def test_confusion_matrix_and_analyze_logs(run_script, demo_root, tmp_path):
    work = tmp_path / 'train'
    run_script([
        'tools/train.py', RESNET_CFG, '--work-dir',
        str(work), '--cfg-options', 'train_cfg.max_epochs=1',
        *_data_opts(demo_root)
    ])

    out = tmp_path / 'cm.png'
    run_script([
        f'{TOOLS}/analysis_tools/confusion_matrix.py', RESNET_CFG,
        str(work / 'epoch_1.pth'), '--show-path',
        str(out), '--include-values', '--cfg-options', *_data_opts(demo_root)
    ])
    # ConfusionMatrix.plot: a 10 x 10 inch figure at 100 dpi, drawn
    assert_drawn_png(out, (1000, 1000))

    log = glob.glob(f'{work}/*/vis_data/*.json')
    assert log, 'no json log written'
    curve = tmp_path / 'loss.png'
    run_script([
        f'{TOOLS}/analysis_tools/analyze_logs.py', 'plot_curve', log[0],
        '--keys', 'loss', '--out',
        str(curve)
    ])
    # plot_curve: the default 12 x 7 inch window at 100 dpi, drawn
    assert_drawn_png(curve, (1200, 700))
    with open(log[0]) as f:
        records = [json.loads(line) for line in f]
    assert sum('loss' in r for r in records) >= 1  # what it plots

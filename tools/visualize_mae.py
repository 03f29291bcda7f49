# Copyright (c) ecdl_mm contributors. All rights reserved.
"""PNG grid of ECMAE reconstructions: original / masked / reconstruction.

    python tools/visualize_mae.py CONFIG CHECKPOINT IMAGES... --out grid.png \
        [--num 4] [--seed 0] [--mask-ratio 0.75]

IMAGES are image files or folders (searched recursively for images). One row
per image; the reconstruction keeps visible patches and shows the predicted
(de-normalised with each patch's own statistics) masked patches.
"""
import argparse
import os
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageDraw

import ecdl_mm  # noqa: F401  registers ECMAE
from ecdl_mm.models import load_model
from ecdl_mm.utils.cli import run_cli

IMG_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='ECMAE config')
    parser.add_argument('checkpoint', help='ECMAE checkpoint')
    parser.add_argument('images', nargs='+', help='image files or folders')
    parser.add_argument('--out', default='mae_reconstruction.png')
    parser.add_argument('--num', type=int, default=4, help='images shown')
    parser.add_argument('--seed', type=int, default=0, help='mask seed')
    parser.add_argument(
        '--mask-ratio',
        type=float,
        default=None,
        help='override the config mask ratio')
    parser.add_argument(
        '--size',
        type=int,
        default=None,
        help='input size (default: the backbone img_size)')
    parser.add_argument(
        '--zoom',
        type=int,
        default=None,
        help='enlarge each tile by this integer factor (nearest neighbour, '
        'patch edges stay sharp); default: tiles of at least 192 px')
    return parser.parse_args(argv)


HEADER_H = 24
COLUMNS = ('original', 'masked', 'reconstruction')


def compose_grid(rows, zoom: int) -> Image.Image:
    """Stack ``rows`` of (H, W * 3, 3) uint8 tiles, enlarged ``zoom`` times,
    under a header naming the columns."""
    grid = np.concatenate(rows, axis=0)
    grid = grid.repeat(zoom, axis=0).repeat(zoom, axis=1)
    canvas = Image.new('RGB', (grid.shape[1], grid.shape[0] + HEADER_H),
                       'white')
    canvas.paste(Image.fromarray(grid), (0, HEADER_H))
    draw = ImageDraw.Draw(canvas)
    tile_w = grid.shape[1] // len(COLUMNS)
    for i, title in enumerate(COLUMNS):
        left, top, right, bottom = draw.textbbox((0, 0), title)
        draw.text((i * tile_w + (tile_w - (right - left)) // 2,
                   (HEADER_H - (bottom - top)) // 2 - top),
                  title,
                  fill='black')
    return canvas


def collect_images(paths, num):
    files = []
    for path in paths:
        if osp.isdir(path):
            for root, _, names in sorted(os.walk(path)):
                files += [
                    osp.join(root, n) for n in sorted(names)
                    if n.lower().endswith(IMG_EXTS)
                ]
        elif osp.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f'{path!r} is neither a file nor a folder')
    if not files:
        raise ValueError(f'no images found in {paths}')
    if num <= 0:
        raise ValueError(f'--num={num} must be positive')
    return files[:num]


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W, C) uint8."""
    return (img.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(
        np.uint8)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.mask_ratio is not None:
        cfg.model.backbone['mask_ratio'] = args.mask_ratio
    model = load_model(cfg, args.checkpoint)
    model_cfg = model._config.model

    size = args.size or model_cfg.backbone.get('img_size', 224)
    pipeline = Compose([
        TRANSFORMS.build(t) for t in (
            dict(type='LoadImageFromFile'),
            dict(type='ResizeEdge', scale=size, edge='short'),
            dict(type='CenterCrop', crop_size=size),
            dict(type='PackInputs'),
        )
    ])
    files = collect_images(args.images, args.num)
    batch = [pipeline(dict(img_path=f)) for f in files]
    data = model.data_preprocessor(default_collate(batch), False)
    inputs = data['inputs']
    inputs = inputs[0] if isinstance(inputs, list) else inputs

    torch.manual_seed(args.seed)
    with torch.no_grad():
        images, recon, mask = model.reconstruct(inputs, mask=True)
    p = model.head.patch_size
    grid_hw = (images.shape[2] // p, images.shape[3] // p)
    pixel_mask = mask.reshape(-1, 1, *grid_hw).float()
    pixel_mask = pixel_mask.repeat_interleave(p, 2).repeat_interleave(p, 3)
    masked = images * (1 - pixel_mask) + 0.5 * pixel_mask  # grey patches

    rows = [
        np.concatenate(
            [to_uint8(a), to_uint8(b), to_uint8(c)], axis=1)
        for a, b, c in zip(images, masked, recon)
    ]
    zoom = args.zoom or max(1, -(-192 // images.shape[-1]))
    if zoom < 1:
        raise ValueError(f'--zoom={zoom} must be a positive integer')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    compose_grid(rows, zoom).save(args.out)
    print(f'{len(files)} images (columns: original | masked | '
          f'reconstruction) -> {args.out}')
    return args.out


if __name__ == '__main__':
    run_cli(main)

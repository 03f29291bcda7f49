# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Image loading + resize throughput: ``LoadResizedImage`` vs mmpretrain's.

Compares, on the demo EC-NBI images (1160x1009 JPEG), the default test
pipeline ``LoadImageFromFile -> ResizeEdge(256) -> CenterCrop(224) ->
PackInputs`` with ``LoadResizedImage(256) -> CenterCrop(224) -> PackInputs``:

- inline: the pipelines called in this process, one image at a time;
- dataloader: a ``torch.utils.data.DataLoader`` with one worker process
  (batch 8), as a training or test loop would read them.

Both run under the settings mmengine's runner applies (OpenCV threading off,
one OMP thread per worker) and alternate round by round. Also reports how far
the fast output is from the default one (mean abs diff, PSNR).

    python benchmarks/bench_data_pipeline.py [--rounds 7] [--demo-root DIR]
"""
import argparse
import glob
import os.path as osp

import _common  # noqa: F401  (puts the repo on sys.path)
import cv2
import numpy as np
import torch
from _common import (DEFAULT_DEMO_ROOT, interleaved, median, print_table,
                     save_result)


def build_pipeline(steps):
    from mmcv.transforms import Compose
    from mmpretrain.registry import TRANSFORMS
    return Compose([TRANSFORMS.build(s) for s in steps])


PIPELINES = dict(
    default=[
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=256, edge='short'),
        dict(type='CenterCrop', crop_size=224),
        dict(type='PackInputs'),
    ],
    fast=[
        dict(type='LoadResizedImage', scale=256, edge='short'),
        dict(type='CenterCrop', crop_size=224),
        dict(type='PackInputs'),
    ])


class _Files(torch.utils.data.Dataset):

    def __init__(self, files, steps):
        self.files = files
        self.steps = steps
        self.pipeline = None

    def __len__(self):
        return len(self.files)

    def __getitem__(self, idx):
        if self.pipeline is None:  # built in the worker
            import ecdl_mm  # noqa: F401
            self.pipeline = build_pipeline(self.steps)
        return self.pipeline(dict(img_path=self.files[idx]))['inputs']


def _worker_init(_):
    cv2.setNumThreads(0)
    torch.set_num_threads(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--demo-root', default=DEFAULT_DEMO_ROOT)
    parser.add_argument('--rounds', type=int, default=7)
    args = parser.parse_args()

    import ecdl_mm  # noqa: F401
    cv2.setNumThreads(0)  # what mmengine's runner sets
    files = sorted(
        glob.glob(osp.join(args.demo_root, '*', '*', 'Images', '*.jpg')))
    if not files:
        raise FileNotFoundError(f'no demo JPEGs under {args.demo_root}')
    n = len(files)
    pipes = {k: build_pipeline(v) for k, v in PIPELINES.items()}

    # Quality: fast output against the default's.
    mads, psnrs = [], []
    for f in files:
        a = pipes['default'](dict(img_path=f))['inputs'].numpy()
        b = pipes['fast'](dict(img_path=f))['inputs'].numpy()
        assert a.shape == b.shape, (a.shape, b.shape)
        mads.append(np.abs(a.astype(float) - b).mean())
        psnrs.append(cv2.PSNR(a, b))

    def run_inline(pipe):
        return lambda: [pipe(dict(img_path=f)) for f in files]

    inline = interleaved({
        k: run_inline(p)
        for k, p in pipes.items()
    }, args.rounds)

    loaders = {
        k:
        torch.utils.data.DataLoader(
            _Files(files, steps),
            batch_size=8,
            num_workers=1,
            persistent_workers=True,
            worker_init_fn=_worker_init)
        for k, steps in PIPELINES.items()
    }

    def run_loader(loader):
        return lambda: [b for b in loader]

    loaded = interleaved({
        k: run_loader(v)
        for k, v in loaders.items()
    }, args.rounds)

    rows, ratios = [], []
    for mode, times in (('inline', inline), ('dataloader-1-worker', loaded)):
        ips = {k: n / median(v) for k, v in times.items()}
        for k, v in ips.items():
            rows.append(
                dict(
                    case=f'{k} ({mode})',
                    metric='img/s',
                    value=v,
                    unit='img/s'))
        ratios.append(
            dict(
                name=f'LoadResizedImage / default img/s, {mode}',
                value=ips['fast'] / ips['default'],
                goal=1.5))
    rows.append(
        dict(
            case='fast vs default output',
            metric='mean abs diff',
            value=float(np.mean(mads)),
            unit='grey levels'))
    rows.append(
        dict(
            case='fast vs default output',
            metric='worst image mean abs diff',
            value=float(np.max(mads)),
            unit='grey levels'))
    rows.append(
        dict(
            case='fast vs default output',
            metric='min PSNR',
            value=float(np.min(psnrs)),
            unit='dB'))
    print(f'data pipeline, {n} demo images, {args.rounds} rounds '
          '(median):')
    print_table(rows, ratios)
    path = save_result(
        'data_pipeline',
        rows,
        ratios,
        config=dict(
            images=n,
            rounds=args.rounds,
            pipelines=PIPELINES,
            dataloader=dict(batch_size=8, num_workers=1)))
    print(f'wrote {path}')


if __name__ == '__main__':
    main()

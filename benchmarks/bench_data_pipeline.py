# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Data pipeline throughput on the demo EC-NBI images (1160x1009 JPEG):
ecdl_mm's fast loading transforms against mmpretrain's, side by side.

Test pipeline: ``LoadImageFromFile -> ResizeEdge(256) -> CenterCrop(224) ->
PackInputs`` against ``LoadResizedImage(256) -> CenterCrop(224) ->
PackInputs``, inline and through a one-worker ``DataLoader`` (batch 8).

Training pipelines (``--train``, on by default): the stage-2 and stage-3
configs' ``train_pipeline`` as shipped (``LoadRandomResizedCrop``: the crop
box drawn from the JPEG header, decoded at the reduction the box needs,
resized with Pillow's filter by torch; six of RandAugment's ops through
lookup tables, ``RandomErasingFast``) against the same pipeline as the
configs had it before (``_common.full_decode_train_pipeline``: mmpretrain's
``LoadImageFromFile -> RandomResizedCrop`` with Pillow, mmpretrain's ops;
equal augmentation: stage 3 keeps its flip, RandAugment and random
erasing). Images per second
per core: each pipeline runs single-threaded in this process, timed in CPU
seconds of the process (``time.process_time``: what a loader worker costs a
core, steady when other jobs share the machine) and in wall seconds. A
third case decodes the same boxes with Pillow's ``draft`` instead of
OpenCV's reduced modes (load + crop only), the measurement behind the
choice of decoder. Where a TurboJPEG 3 library is found (``tools/install.sh``
installs one, ``requirements/turbojpeg.txt``; or ``ECDL_TURBOJPEG_LIB``), a
fourth case runs the shipped pipeline with ``decoder='turbojpeg'`` (only
the box's region decoded: what the configs' ``decoder='auto'`` does there)
beside ``decoder='opencv'`` (the whole frame at the reduction: ``'auto'``
without the library), and its crops are compared with the OpenCV decoder's
(identical expected).
Where ``jpegtran`` is found, the shipped pipeline also runs on a
restart-marked copy of the frames made at run time
(``tools/dataset_converters/add_restart_markers.py``: only each box's MCUs
are Huffman-decoded), its crops compared with the originals' (identical
expected). Two resize options are timed too: ``backend='pillow'`` (Pillow
itself, the reduced box at its fractional position) and ``backend='cv2'``
(OpenCV's
resize, not the release's filter: other pixels, PSNR reported, not the
shipped default). A further case times what the
loader workers still do with the
``-gpu-decode`` (stage 2) and ``-gpu-augment`` (stage 3) configs (read the
file, draw the box and the augmentation decisions; the decode, resize and
augmentations run in the model's data preprocessor on the GPU).
Also reports the crop pixels against mmpretrain's on the
same random boxes (PSNR by decode factor).

All cases run under the settings mmengine's runner applies (OpenCV
threading off, one OMP thread) and alternate round by round.

    python benchmarks/bench_data_pipeline.py [--rounds 7] [--demo-root DIR]
        [--no-train] [--no-test]
"""
import argparse
import glob
import os.path as osp

import _common  # noqa: F401  (puts the repo on sys.path)
import cv2
import numpy as np
import torch
from _common import (DEFAULT_DEMO_ROOT, REPO_ROOT, full_decode_train_pipeline,
                     interleaved, median, print_table, save_result)
from _pipeline_helpers import (count_region_differences, pillow_draft_crop,
                               psnr, restart_marked_copy)

# The shipped training pipelines (stage 2: in-domain MAE; stage 3: the
# clustering fine-tune with flip, RandAugment and random erasing).
TRAIN_CONFIGS = dict(
    stage2='configs/_base_/datasets/ecnbi_unlabeled_mae_224.py',
    stage3='configs/_base_/datasets/ecnbi_lesion_224.py')
# The configs whose data preprocessor decodes (stage 2) and augments (stage
# 3) on the GPU: the loader workers' share of their pipelines.
GPU_CONFIGS = dict(
    stage2=('configs/ecdl/'
            'ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi-gpu-decode.py',
            'ours, worker share with the decode on the GPU', '-gpu-decode'),
    stage3=('configs/ecdl/'
            'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi-gpu-augment.py',
            'ours, worker share with decode and augmentations on the GPU',
            '-gpu-augment'))

CV2_CASE = "ours, backend='cv2' resize (other pixels)"
CV2_TODAY = "today, backend='cv2' resize"
PILLOW_CASE = "ours, backend='pillow' resize (Pillow itself)"
RST_CASE = 'ours, restart-marked copy of the files'


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


def test_pipeline_cases(files, rounds):
    """The test pipelines: ``LoadResizedImage`` vs the full decode."""
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

    inline = interleaved({k: run_inline(p) for k, p in pipes.items()}, rounds)
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
    loaded = interleaved(
        {
            k: (lambda ld=v: [b for b in ld])
            for k, v in loaders.items()
        }, rounds)

    rows, ratios = [], []
    for mode, times in (('inline', inline), ('dataloader-1-worker', loaded)):
        ips = {k: n / median(v) for k, v in times.items()}
        for k, v in ips.items():
            rows.append(
                dict(
                    case=f'test {k} ({mode})',
                    metric='img/s',
                    value=v,
                    unit='img/s'))
        ratios.append(
            dict(
                name=f'LoadResizedImage / default img/s, {mode}',
                value=ips['fast'] / ips['default'],
                goal=1.5))
    rows += [
        dict(
            case='test fast vs default output',
            metric='mean abs diff',
            value=float(np.mean(mads)),
            unit='grey levels'),
        dict(
            case='test fast vs default output',
            metric='worst image mean abs diff',
            value=float(np.max(mads)),
            unit='grey levels'),
        dict(
            case='test fast vs default output',
            metric='min PSNR',
            value=float(np.min(psnrs)),
            unit='dB')
    ]
    return rows, ratios


def train_pipeline_cases(files, rounds, rst_files=None):
    """The shipped training pipelines vs mmpretrain's full decode."""
    from mmengine.config import Config
    from mmpretrain.registry import TRANSFORMS

    from ecdl_mm.datasets.transforms import turbojpeg_region
    region_ok = turbojpeg_region.load_library() is not None
    print('region decoder:', turbojpeg_region.library_status())
    n = len(files)
    rows, ratios, config = [], [], {}
    for stage, path in TRAIN_CONFIGS.items():
        ours = Config.fromfile(osp.join(REPO_ROOT, path)).train_pipeline
        ours = [dict(s) for s in ours]
        today = full_decode_train_pipeline(ours)
        ours[0] = dict(ours[0], decoder='opencv')
        config[stage] = dict(ours=ours, today=today)
        pipes = dict(today=build_pipeline(today), ours=build_pipeline(ours))
        if region_ok:
            region = [dict(ours[0], decoder='turbojpeg')] + ours[1:]
            config[stage]['ours_region'] = region
            pipes['ours, turbojpeg region decoder'] = build_pipeline(region)
        # the shipped pipeline (decoder='auto') of this install
        key_default = 'ours, turbojpeg region decoder' if region_ok else 'ours'
        # A speed option, not the default: OpenCV's resize of the reduced
        # box instead of Pillow's (the release's interpolation), other
        # pixels (PSNR below); the default decoder of this install.
        fast = [dict(ours[0], decoder='auto', backend='cv2')] + ours[1:]
        config[stage]['ours_cv2_resize'] = fast
        pipes[CV2_CASE] = build_pipeline(fast)
        pipes[CV2_TODAY] = build_pipeline(full_decode_train_pipeline(fast))
        # The shipped configs' filter computed by Pillow itself (the reduced
        # box at its fractional position) instead of torch's uint8 kernel
        # (box rounded to whole reduced pixels), the default decoder.
        slow = [dict(ours[0], decoder='auto', backend='pillow')] + ours[1:]
        config[stage]['ours_pillow_resize'] = slow
        pipes[PILLOW_CASE] = build_pipeline(slow)
        # The -gpu-decode / -gpu-augment config: what is left to the
        # workers when the model's data preprocessor decodes (and augments)
        # on the GPU (not equal work on the CPU: that moved to the device).
        gpu_cfg, gpu_case, gpu_name = GPU_CONFIGS[stage]
        gpu = Config.fromfile(osp.join(REPO_ROOT, gpu_cfg)).train_pipeline
        config[stage]['ours' +
                      gpu_name.replace('-', '_')] = [dict(s) for s in gpu]
        pipes[gpu_case] = build_pipeline(gpu)
        cases = {
            k: (lambda p=p: [p(dict(img_path=f)) for f in files])
            for k, p in pipes.items()
        }
        if rst_files:
            # The shipped pipeline on a restart-marked copy of the frames
            # (tools/dataset_converters/add_restart_markers.py): only each
            # box's MCUs are Huffman-decoded.
            cases[RST_CASE] = (lambda p=pipes[key_default]:
                               [p(dict(img_path=f)) for f in rst_files])
        if stage == 'stage2':
            # Load + crop only, the two reduced decoders on the same boxes.
            crop = TRANSFORMS.build(today[1])
            load = pillow_draft_crop(crop)
            cases['ours, Pillow draft decoder (load+crop)'] = (
                lambda: [load(f) for f in files])
        cpu = {}
        wall = interleaved(cases, rounds, cpu_times=cpu)
        for k in cases:
            rows.append(
                dict(
                    case=f'{stage} train {k}',
                    metric='img/s per core (CPU time)',
                    value=n / median(cpu[k]),
                    unit='img/s'))
            rows.append(
                dict(
                    case=f'{stage} train {k}',
                    metric='img/s (wall, 1 thread)',
                    value=n / median(wall[k]),
                    unit='img/s'))

        def ratio(what, case, goal=None, base='today'):
            """``base``'s CPU time per image over ``case``'s."""
            ratios.append(
                dict(
                    name=f'{stage} train {what}, img/s per core',
                    value=median(cpu[base]) / median(cpu[case]),
                    goal=goal))

        ratio("LoadRandomResizedCrop(decoder='opencv') / today", 'ours', 3.0)
        ratio("LoadRandomResizedCrop(backend='cv2'), other pixels / today",
              CV2_CASE)
        ratio(
            "same, against today's pipeline with backend='cv2' (the same "
            'resize)',
            CV2_CASE,
            base=CV2_TODAY)
        ratio(
            "LoadRandomResizedCrop(backend='pillow'), the resize by Pillow "
            'itself / today', PILLOW_CASE)
        what = 'the decode' if stage == 'stage2' else \
            'the decode and augmentations'
        ratio(
            f'loader worker with {what} on the GPU ({gpu_name} config) / '
            'today', gpu_case)
        if rst_files:
            ratio(
                'shipped pipeline on the restart-marked copy / today on the '
                'original files', RST_CASE, 3.0)
            rows.append(
                dict(
                    case=f'{stage} crop restart-marked copy vs original',
                    metric=f'crops not identical (of {3 * n})',
                    value=count_region_differences(
                        pipes[key_default].transforms[0],
                        pipes[key_default].transforms[0], files, rst_files),
                    unit='crops'))
        if region_ok:
            key = 'ours, turbojpeg region decoder'
            ratio(
                'LoadRandomResizedCrop, turbojpeg region decoder '
                "(decoder='auto' with the library) / today", key, 3.0)
            rows.append(
                dict(
                    case=f'{stage} crop turbojpeg region vs opencv decoder',
                    metric=f'crops not identical (of {3 * n})',
                    value=count_region_differences(pipes['ours'].transforms[0],
                                                   pipes[key].transforms[0],
                                                   files),
                    unit='crops'))

        # The crops (before any augmentation: RandAugment's thresholds
        # turn grey-level differences into large ones) on the same boxes,
        # by decode factor.
        load_today, crop_today = pipes['today'].transforms[:2]
        variants = (('ours', 'ours'), (CV2_CASE, 'ours, cv2 resize'),
                    (PILLOW_CASE, 'ours, pillow resize'))
        psnrs = {case: {} for _, case in variants}
        for seed in range(3):
            for i, f in enumerate(files):
                np.random.seed(seed * 1000 + i)
                a = crop_today(load_today(dict(img_path=f)))['img']
                for name, case in variants:
                    np.random.seed(seed * 1000 + i)
                    out = pipes[name].transforms[0](dict(img_path=f))
                    psnrs[case].setdefault(out['decode_factor'],
                                           []).append(psnr(a, out['img']))
        for case, by_factor in psnrs.items():
            for fac, values in sorted(by_factor.items()):
                finite = [v for v in values if np.isfinite(v)]
                rows.append(
                    dict(
                        case=f'{stage} crop {case} vs today, decode 1/{fac}',
                        metric=f'min PSNR ({len(values)} crops, '
                        f'{len(values) - len(finite)} identical)',
                        value=float(min(finite)) if finite else float('inf'),
                        unit='dB'))
    return rows, ratios, config


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--demo-root', default=DEFAULT_DEMO_ROOT)
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--no-train', action='store_true')
    parser.add_argument('--no-test', action='store_true')
    args = parser.parse_args()

    import ecdl_mm  # noqa: F401
    cv2.setNumThreads(0)  # what mmengine's runner sets
    torch.set_num_threads(1)
    files = sorted(
        glob.glob(osp.join(args.demo_root, '*', '*', 'Images', '*.jpg')))
    if not files:
        raise FileNotFoundError(f'no demo JPEGs under {args.demo_root}')
    n = len(files)
    rows, ratios, config = [], [], dict(images=n, rounds=args.rounds)
    if not args.no_test:
        r, q = test_pipeline_cases(files, args.rounds)
        rows += r
        ratios += q
        config.update(
            pipelines=PIPELINES, dataloader=dict(batch_size=8, num_workers=1))
    if not args.no_train:
        rst_files = restart_marked_copy(args.demo_root, files)
        r, q, c = train_pipeline_cases(files, args.rounds, rst_files)
        rows += r
        ratios += q
        config.update(train_pipelines=c)
    print(f'data pipeline, {n} demo images, {args.rounds} rounds '
          '(median):')
    print_table(rows, ratios)
    path = save_result('data_pipeline', rows, ratios, config=config)
    print(f'wrote {path}')


if __name__ == '__main__':
    main()

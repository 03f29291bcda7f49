# Copyright (c) ecdl_mm contributors. All rights reserved.
"""GPU training throughput of the full-size EC-DL stage configs against
mmpretrain's own ViT-B / MAE models, on the same data and settings.

Needs a CUDA GPU. For each case the script builds the stage config with
mmengine's ``Runner`` (AMP: ``AmpOptimWrapper``, fp16, dynamic loss scale),
points it at a synthetic EC-NBI-like cohort (1160x1009 JPEGs with the
octagonal black-cornered field, laid out as ``<class>/<lesion>/Images``),
and measures, one case after the other in this process:

- ``e2e``: ``runner.train()`` for ``--iters`` iterations, images/s over the
  iterations after the first 10% (data loading with ``--workers`` workers,
  the config's own pipeline included);
- ``step``: ``model.train_step`` repeated on one pre-loaded batch (the
  model's own cost: forward, backward, optimizer step under AMP);
- peak GPU memory of the step.

The mmpretrain cases keep our config (data, pipeline, optimizer, batch) and
swap only ``model`` for mmpretrain's: the MAE ViT-B/16 of
``mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py`` against
our stage-2 ECMAE, and the ViT-B/16 fine-tuning model of
``mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py``
(mixup/cutmix off, 3 classes) against our stage-3 clustering model.

    python benchmarks/bench_gpu_train.py --stage2 CONFIG --stage3 CONFIG \
        [--iters 300] [--batch 64] [--images 512] [--workers 12]

Writes ``benchmarks/results/bench_gpu_train.json`` (or ``--out``).
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import tempfile
import time
from multiprocessing import Pool

import numpy as np

BENCH_DIR = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, osp.dirname(BENCH_DIR))
sys.path.insert(0, BENCH_DIR)

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')


def _write_image(args):
    path, seed = args
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(seed)
    h, w = 1009, 1160
    # Smooth texture (upsampled noise) so JPEG sizes resemble real images.
    small = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((w, h), Image.BICUBIC)
    mask = Image.new('L', (w, h), 0)
    c = 180
    ImageDraw.Draw(mask).polygon([(c, 0), (w - c, 0), (w, c), (w, h - c),
                                  (w - c, h), (c, h), (0, h - c), (0, c)],
                                 fill=255)
    black = Image.new('RGB', (w, h))
    Image.composite(img, black, mask).save(path, quality=90)


def make_cohort(root, num_images, per_lesion=4):
    """Synthetic cohort in the EC-DL layout plus a ``train.csv`` sheet."""
    jobs, rows = [], []
    num_lesions = max(1, num_images // per_lesion)
    for lesion in range(num_lesions):
        cls = lesion % len(CLASSES)
        folder = osp.join(root, CLASSES[cls], str(lesion), 'Images')
        os.makedirs(folder, exist_ok=True)
        rows.append(f'{cls},{CLASSES[cls]},{lesion}')
        for i in range(per_lesion):
            jobs.append((osp.join(folder, f'{i}.jpg'), lesion * 100 + i))
    with Pool(min(16, os.cpu_count() or 1)) as pool:
        pool.map(_write_image, jobs)
    with open(osp.join(root, 'train.csv'), 'w') as f:
        f.write('class_index,class_english,lesion_index\n')
        f.write('\n'.join(rows) + '\n')
    return len(jobs)


def mm_config(name):
    """Path of a config shipped inside the mmpretrain package."""
    import mmpretrain
    return osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', name)


class _Timer:
    """An mmengine hook recording a synchronised timestamp per iteration."""

    def __init__(self):
        from mmengine.hooks import Hook

        times = self.times = []

        class TimerHook(Hook):
            priority = 'LOWEST'

            def after_train_iter(self,
                                 runner,
                                 batch_idx,
                                 data_batch=None,
                                 outputs=None):
                import torch
                torch.cuda.synchronize()
                times.append(time.perf_counter())

        self.hook = TimerHook()


def configure(cfg_path, args, root, model=None, stage=2):
    from mmengine.config import Config
    cfg = Config.fromfile(cfg_path)
    if model is not None:
        cfg.model = model
        # ClassCenterHook belongs to our clustering head only.
        cfg.custom_hooks = [
            h for h in cfg.get('custom_hooks', [])
            if h.get('type') != 'ClassCenterHook'
        ]
    cfg.work_dir = tempfile.mkdtemp(prefix='gpubench_')
    cfg.load_from = None
    cfg.resume = False
    if stage == 3 and 'init_cfg' in cfg.model.get('backbone', {}):
        cfg.model.backbone.init_cfg = None
    ow = cfg.optim_wrapper
    ow.type = 'AmpOptimWrapper'
    ow.loss_scale = 'dynamic'
    dl = cfg.train_dataloader
    dl.batch_size = args.batch
    dl.num_workers = args.workers
    dl.persistent_workers = True
    ds = dl.dataset
    if stage == 2:
        ds.type = 'CustomDataset'
        ds.data_root = root
        ds.ann_file = ''
        ds.data_prefix = ''
        ds.with_label = False
    else:
        ds.data_root = root
        ds.ann_file = 'train.csv'
        ds.pop('sheet_name', None)
        ds.disjoint_with = []
        ds.check_images = False
        if dl.get('sampler', {}).get('type') != 'DefaultSampler':
            dl.sampler = dict(type='DefaultSampler', shuffle=True)
    iters_per_epoch = args.images // args.batch
    epochs = max(1, -(-args.iters // iters_per_epoch))
    cfg.train_cfg = dict(
        type='EpochBasedTrainLoop', max_epochs=epochs, val_interval=10**9)
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg',
                'test_dataloader', 'test_evaluator', 'test_cfg'):
        cfg[key] = None
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=10**9, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.env_cfg = dict(cudnn_benchmark=True, dist_cfg=dict(backend='nccl'))
    cfg.launcher = 'none'
    return cfg, epochs * iters_per_epoch


def run_case(name, cfg, total_iters, args):
    import torch
    from mmengine.runner import Runner
    timer = _Timer()
    runner = Runner.from_cfg(cfg)
    runner.register_hook(timer.hook)
    t0 = time.perf_counter()
    runner.train()
    wall = time.perf_counter() - t0
    times = timer.times
    skip = max(1, len(times) // 10)
    e2e = args.batch * (len(times) - 1 - skip) / (times[-1] - times[skip])
    data_times = runner.message_hub.get_scalar('train/data_time').data[0]

    # The model's own cost on one pre-loaded batch.
    model, ow = runner.model, runner.optim_wrapper
    batch = next(iter(runner.train_dataloader))
    for _ in range(5):
        model.train_step(batch, ow)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    n = args.steps
    t = time.perf_counter()
    for _ in range(n):
        model.train_step(batch, ow)
    torch.cuda.synchronize()
    step = args.batch * n / (time.perf_counter() - t)
    peak = torch.cuda.max_memory_allocated() / 2**30
    row = dict(
        case=name,
        iters=len(times),
        e2e_img_s=round(e2e, 1),
        step_img_s=round(step, 1),
        peak_gib=round(peak, 2),
        mean_data_time_s=round(float(np.mean(data_times[skip:])), 4),
        wall_s=round(wall, 1),
        params_m=round(sum(p.numel() for p in model.parameters()) / 1e6, 2))
    print(json.dumps(row), flush=True)
    del runner, model, ow, batch
    torch.cuda.empty_cache()
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--stage2', required=True, help='stage-2 config')
    parser.add_argument('--stage3', required=True, help='stage-3 config')
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--steps', type=int, default=50)
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--images', type=int, default=512)
    parser.add_argument('--workers', type=int, default=12)
    parser.add_argument('--data', help='existing synthetic cohort folder')
    parser.add_argument('--only', nargs='*', help='case names to run')
    parser.add_argument(
        '--out',
        default=osp.join(BENCH_DIR, 'results', 'bench_gpu_train.json'))
    args = parser.parse_args()

    import torch
    from mmengine.config import Config
    if not torch.cuda.is_available():
        sys.exit('bench_gpu_train.py needs a CUDA GPU')
    from _common import env_info

    import ecdl_mm  # noqa: F401

    root = args.data or tempfile.mkdtemp(prefix='ecnbi_synth_')
    if not osp.isfile(osp.join(root, 'train.csv')):
        t = time.perf_counter()
        n = make_cohort(root, args.images)
        print(
            f'synthetic cohort: {n} images in {root} '
            f'({time.perf_counter() - t:.0f} s)',
            flush=True)
    args.images = sum(
        len(files) for _, _, files in os.walk(root)
        if files and files[0].endswith('.jpg'))

    mm_mae = Config.fromfile(
        mm_config('mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')).model
    mm_vit = Config.fromfile(
        mm_config(
            'mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py')).model
    mm_vit.head.num_classes = 3
    mm_vit.pop('train_cfg', None)  # mixup / cutmix off: equal work
    s3_model = Config.fromfile(args.stage3).model
    mm_vit.data_preprocessor = s3_model.get('data_preprocessor')
    if mm_vit.data_preprocessor is None:
        mm_vit.pop('data_preprocessor')

    cases = [
        ('stage2_ecmae', args.stage2, None, 2),
        ('stage2_mmpretrain_mae', args.stage2, copy.deepcopy(mm_mae), 2),
        ('stage3_ecdl_clustering', args.stage3, None, 3),
        ('stage3_mmpretrain_vit', args.stage3, copy.deepcopy(mm_vit), 3),
    ]
    rows = []
    for name, cfg_path, model, stage in cases:
        if args.only and name not in args.only:
            continue
        cfg, total = configure(cfg_path, args, root, model, stage)
        rows.append(run_case(name, cfg, total, args))

    by = {r['case']: r for r in rows}
    ratios = []
    for ours, theirs in (('stage2_ecmae', 'stage2_mmpretrain_mae'),
                         ('stage3_ecdl_clustering', 'stage3_mmpretrain_vit')):
        if ours in by and theirs in by:
            for key in ('e2e_img_s', 'step_img_s'):
                ratios.append(
                    dict(
                        name=f'{ours}/{theirs} {key}',
                        value=round(by[ours][key] / by[theirs][key], 3),
                        higher_is='better'))
            ratios.append(
                dict(
                    name=f'{ours}/{theirs} peak_gib',
                    value=round(by[ours]['peak_gib'] / by[theirs]['peak_gib'],
                                3),
                    higher_is='worse'))
    result = dict(
        benchmark='bench_gpu_train',
        env=env_info(),
        config=dict(
            stage2=args.stage2,
            stage3=args.stage3,
            batch=args.batch,
            images=args.images,
            workers=args.workers,
            iters=args.iters,
            amp='fp16 dynamic loss scale'),
        rows=rows,
        ratios=ratios)
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    print('\n| case | e2e img/s | step img/s | peak GiB | data s/iter |')
    print('|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['case']} | {r['e2e_img_s']} | {r['step_img_s']} | "
              f"{r['peak_gib']} | {r['mean_data_time_s']} |")
    for r in ratios:
        print(f"{r['name']}: {r['value']}")


if __name__ == '__main__':
    main()

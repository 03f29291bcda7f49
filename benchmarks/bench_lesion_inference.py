# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Lesion-level inference end to end: files on disk -> lesion diagnoses,
today's :class:`LesionInferencer` against the new one, side by side.

Cases, on every demo lesion (40 JPEG files read and decoded every pass),
the shipped test pipeline, the same weights and threads:

- ``today``: ``LesionInferencer`` as committed at ``--baseline-rev``
  (default: the commit before issue 25; decoding in the main process, flip
  as two model calls);
- ``new w0``: today's code, decoding in the main process;
- ``new wN``: today's code with ``--workers`` threads decoding
  while the model runs (default 1).

Images per second are the median of ``--rounds`` passes, cases alternating
round by round; batch-1 latency is per image at ``batch_size=1``. With
``--flip`` both run a flip operating point (new: one model call on images
and mirrors). The largest lesion probability difference between today and
new is printed too (0 up to float rounding). Random weights unless
``--checkpoint``. ``--device cuda --backend cuda-graph --precision fp16``
times the GPU path (``benchmarks/gpu_check.sh`` does).

    python benchmarks/bench_lesion_inference.py [--config CFG] [--flip]
"""
import argparse
import os.path as osp
import tempfile

import _common  # noqa: F401  (puts the repo on sys.path)
import numpy as np
import torch
from _baseline import BASELINE_REV, load_at, paired_ratio
from _common import (DEFAULT_DEMO_ROOT, REPO_ROOT, interleaved, median,
                     print_table, save_result)

DEFAULT_CONFIG = osp.join(REPO_ROOT, 'configs', 'ecdl',
                          'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py')


def sync(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


def run_cases(args, lesion_dirs, op_path=None):
    """Build today's and the new inferencers; time them. Returns rows,
    ratios and a summary dict."""
    from ecdl_mm.apis import LesionInferencer
    kw = dict(device=args.device, operating_point=op_path)
    new = {
        'new w0':
        LesionInferencer(
            args.config,
            args.checkpoint or False,
            backend=args.backend,
            precision=args.precision,
            num_workers=0,
            **kw)
    }
    model = new['new w0'].model
    if args.workers:
        inf = LesionInferencer(
            args.config,
            False,
            backend=args.backend,
            precision=args.precision,
            num_workers=args.workers,
            **kw)
        inf.model = model  # same weights
        new[f'new w{args.workers}'] = inf
    infs = {}
    today = load_at(args.baseline_rev, 'ecdl_mm/apis/lesion_inferencer.py',
                    '_today_lesion_inferencer')
    if today is not None:
        infs['today'] = today.LesionInferencer(args.config, False, **kw)
        infs['today'].model = model
    infs.update(new)
    found = LesionInferencer.find_lesions(lesion_dirs)
    if args.lesions:
        found = dict(list(found.items())[:args.lesions])
        lesion_dirs = [v['path'] for v in found.values()]
    n_img = sum(len(v['images']) for v in found.values())
    results = {}

    def case(name, batch):

        def fn():
            results[name] = infs[name](
                lesion_dirs, batch_size=batch, show_progress=False)
            sync(args.device)

        return fn

    for name in infs:  # warm-up: one lesion each
        infs[name](
            lesion_dirs[:1], batch_size=args.batch_size, show_progress=False)
    times = interleaved({n: case(n, args.batch_size)
                         for n in infs},
                        args.rounds,
                        warmup=0)
    rows, ratios = [], []
    ips = {k: n_img / median(v) for k, v in times.items()}
    for k, v in ips.items():
        rows.append(
            dict(
                case=k,
                metric=f'img/s (files -> lesions, batch {args.batch_size})',
                value=v,
                unit='img/s'))
    # batch-1 latency per image: today vs the new inferencer without workers
    b1 = interleaved({n: case(n, 1)
                      for n in infs if n in ('today', 'new w0')},
                     args.rounds,
                     warmup=0)
    lat = {k: median(v) / n_img * 1000 for k, v in b1.items()}
    for k, v in lat.items():
        rows.append(
            dict(case=k, metric='batch-1 latency', value=v, unit='ms/image'))
    if 'today' in ips:
        for k in new:
            ratios.append(
                dict(
                    name=f'{k} / today img/s (median of per-round ratios)',
                    value=paired_ratio(times['today'], times[k]),
                    goal=1.0))
            diff = max(
                float(np.abs(a['pred_scores'] - b['pred_scores']).max())
                for a, b in zip(results['today'], results[k]))
            rows.append(
                dict(
                    case=k,
                    metric='max |lesion prob - today|',
                    value=diff,
                    unit=''))
        ratios.append(
            dict(
                name='today / new w0 batch-1 latency (median of per-round '
                'ratios)',
                value=paired_ratio(b1['today'], b1['new w0']),
                goal=1.0))
    return rows, ratios, dict(
        lesions=len(found), images=n_img, img_per_s=ips, batch1_ms=lat)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--demo-root', default=DEFAULT_DEMO_ROOT)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--flip', action='store_true')
    parser.add_argument(
        '--lesions',
        type=int,
        default=None,
        help='only the first N demo lesions (default: all 40)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--backend', default='eager')
    parser.add_argument('--precision', default=None)
    parser.add_argument('--baseline-rev', default=BASELINE_REV)
    # One thread by default: per-core figures, stable on a shared machine
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()

    import ecdl_mm  # noqa: F401
    from ecdl_mm.evaluation.operating_point import OperatingPoint
    from ecdl_mm.utils import set_inference_threads
    set_inference_threads(args.threads)
    lesion_dirs = [
        osp.join(args.demo_root, c)
        for c in ('adenomas', 'invasive_cancer', 'non-neoplastic')
    ]
    with tempfile.TemporaryDirectory() as tmp:
        op_path = None
        if args.flip:
            op_path = OperatingPoint(
                classes=['adenomas', 'invasive_cancer', 'non-neoplastic'],
                view=dict(name='whole',
                          flip=True)).save(osp.join(tmp, 'op.json'))
        rows, ratios, summary = run_cases(args, lesion_dirs, op_path)
    print(f"lesion inference end to end: {summary['lesions']} lesions, "
          f"{summary['images']} images, {torch.get_num_threads()} threads, "
          f'{args.rounds} rounds (median), flip={args.flip}, device '
          f'{args.device}; today = {args.baseline_rev}')
    print_table(rows, ratios)
    path = save_result(
        'lesion_inference',
        rows,
        ratios,
        config=dict(
            vars(args),
            config=osp.relpath(args.config, REPO_ROOT),
            lesions=summary['lesions']))
    print(f'wrote {path}')


if __name__ == '__main__':
    main()

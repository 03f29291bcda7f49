"""ECViT-B/16 vs mmpretrain VisionTransformer-B/16 inference speed (CPU).

The fairest stock equivalent: mmpretrain ``VisionTransformer(arch='b')`` with
average pooling, no class token and no final norm (the same compute as ECViT
except its learnt position embedding and fused qkv bias). Both run in the
same process, interleaved, under ``torch.inference_mode``; the ratio is
ECViT img/s over mmpretrain img/s (>= 0.95 wanted).

    python benchmarks/bench_ecvit.py [--repeats 3] [--threads 2]
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import time

import torch
from mmpretrain.models import VisionTransformer

import ecdl_mm  # noqa: F401
from ecdl_mm.models.backbones import ECViT


def timed(model, x, repeats):
    times = []
    with torch.inference_mode():
        model(x)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 16])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ours = ECViT('base', out_type='avg_featmap')
    ref = VisionTransformer(
        arch='b', out_type='avg_featmap', with_cls_token=False,
        final_norm=False)
    ours.eval()
    ref.eval()  # mmpretrain's BaseBackbone.train() returns None
    results = dict(
        torch=torch.__version__,
        threads=args.threads,
        machine=platform.processor() or platform.machine(),
        repeats=args.repeats,
        batches={})
    for bs in args.batch_sizes:
        x = torch.randn(bs, 3, 224, 224)
        reps = args.repeats * (4 if bs == 1 else 1)
        t_ours, t_ref = [], []
        # interleave rounds so load changes on a shared machine hit both
        for _ in range(2):
            t_ref += timed(ref, x, reps)
            t_ours += timed(ours, x, reps)
        ips_ours = bs / statistics.median(t_ours)
        ips_ref = bs / statistics.median(t_ref)
        results['batches'][bs] = dict(
            ecvit_img_s=ips_ours,
            mmpretrain_vit_img_s=ips_ref,
            ratio=ips_ours / ips_ref,
            n_timings=len(t_ours))
        print(f'batch {bs:>3}: ECViT {ips_ours:7.2f} img/s | mmpretrain ViT '
              f'{ips_ref:7.2f} img/s | ratio {ips_ours / ips_ref:.3f}')
    out_dir = osp.join(osp.dirname(osp.abspath(__file__)), 'results')
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, 'bench_ecvit.json')
    with open(path, 'w') as f:
        json.dump(results, f, indent=2)
    print(f'written {path}')


if __name__ == '__main__':
    main()

"""ECMAE-B training step vs mmpretrain MAE ViT-B (CPU), same run.

A step is forward + backward + AdamW update on a batch of 224 px images.
Compared: ECMAE-B with the EC-DL decoder (384 wide, 4 layers), ECMAE-B with
mmpretrain's decoder sizes (512 wide, 8 layers, 16 heads; the like-for-like
compute comparison), and stock mmpretrain MAE ViT-B (decoder 512 x 8).
Ratios are steps/s over mmpretrain's (>= 0.95 wanted).

    python benchmarks/bench_ecmae.py [--batch 8] [--repeats 3] [--threads 2]
"""
import argparse
import json
import os
import os.path as osp
import statistics
import time

import torch

import ecdl_mm  # noqa: F401
from mmpretrain.registry import MODELS

DP = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])


def ecmae(dec_dims, dec_layers, dec_heads):
    return dict(
        type='ECMAE',
        backbone=dict(type='ECMAEViT', arch='base'),
        neck=dict(
            type='ECMAEPretrainDecoder',
            embed_dims=768,
            decoder_embed_dims=dec_dims,
            decoder_num_layers=dec_layers,
            decoder_num_heads=dec_heads),
        head=dict(type='ECMAEPretrainHead'),
        data_preprocessor=dict(type='SelfSupDataPreprocessor', **DP))


MMPRETRAIN_MAE = dict(
    type='MAE',
    backbone=dict(type='MAEViT', arch='b', patch_size=16, mask_ratio=0.75),
    neck=dict(
        type='MAEPretrainDecoder',
        patch_size=16,
        in_chans=3,
        embed_dim=768,
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16,
        mlp_ratio=4.),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    data_preprocessor=dict(type='SelfSupDataPreprocessor', **DP))


def step_times(model, opt, x, repeats, warmup=3):
    # mmpretrain's MAE needs ~2 slow first steps here (allocator / AdamW
    # state), so a single warm-up step skews its median.
    times = []
    for i in range(repeats + warmup):
        t0 = time.perf_counter()
        losses = model.loss(x, None)
        loss = sum(v for v in losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfgs = {
        'mmpretrain_mae_b': MMPRETRAIN_MAE,
        'ecmae_b_ecdl_decoder': ecmae(384, 4, 6),
        'ecmae_b_mmpretrain_decoder': ecmae(512, 8, 16),
    }
    models, opts = {}, {}
    for name, cfg in cfgs.items():
        models[name] = MODELS.build(cfg)
        models[name].train()
        models[name].init_weights()
        opts[name] = torch.optim.AdamW(models[name].parameters(), lr=1e-4)
    x = torch.randn(args.batch, 3, 224, 224)
    times = {name: [] for name in cfgs}
    for _ in range(2):  # interleaved rounds
        for name in cfgs:
            times[name] += step_times(models[name], opts[name], x,
                                      args.repeats)
    ref = statistics.median(times['mmpretrain_mae_b'])
    results = dict(
        torch=torch.__version__,
        threads=args.threads,
        batch=args.batch,
        repeats=args.repeats,
        models={})
    for name, t in times.items():
        med = statistics.median(t)
        results['models'][name] = dict(
            step_s=med, img_s=args.batch / med, ratio_vs_mmpretrain=ref / med,
            n_timings=len(t))
        print(f'{name:28s} {med:6.2f} s/step  {args.batch / med:6.2f} img/s  '
              f'ratio {ref / med:.3f}')
    out_dir = osp.join(osp.dirname(osp.abspath(__file__)), 'results')
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, 'bench_ecmae.json')
    with open(path, 'w') as f:
        json.dump(results, f, indent=2)
    print(f'written {path}')


if __name__ == '__main__':
    main()

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""ECMAE-B training step vs mmpretrain MAE ViT-B (CPU), same run.

A step is forward + backward + AdamW update on a batch of 224 px images.
Compared: ECMAE-B with the EC-DL decoder (384 wide, 4 layers), ECMAE-B with
mmpretrain's decoder sizes (512 wide, 8 layers, 16 heads; the like-for-like
compute comparison), and stock mmpretrain MAE ViT-B (decoder 512 x 8).
Ratios are steps/s over mmpretrain's (>= 0.95 wanted).

    python benchmarks/bench_ecmae.py [--batch 8] [--rounds 6] [--threads 2]
"""
import argparse

import _common  # noqa: F401  (puts the repo on sys.path)
import torch
from _common import interleaved, median, print_table, save_result
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401

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


def train_step(model, opt, x):
    """One forward + backward + AdamW update, as a no-argument callable."""

    def step():
        losses = model.loss(x, None)
        opt.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        opt.step()

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--rounds', type=int, default=6)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfgs = {
        'mmpretrain_mae_b': MMPRETRAIN_MAE,
        'ecmae_b_ecdl_decoder': ecmae(384, 4, 6),
        'ecmae_b_mmpretrain_decoder': ecmae(512, 8, 16),
    }
    x = torch.randn(args.batch, 3, 224, 224)
    steps = {}
    for name, cfg in cfgs.items():
        model = MODELS.build(cfg)
        model.init_weights()
        model.train()
        steps[name] = train_step(
            model, torch.optim.AdamW(model.parameters(), lr=1e-4), x)
    # mmpretrain's MAE needs ~2 slow first steps here (allocator / AdamW
    # state): 3 warm-up steps keep them out of the medians.
    times = interleaved(steps, args.rounds, warmup=3)
    ref = median(times['mmpretrain_mae_b'])
    rows, ratios = [], []
    for name, t in times.items():
        rows.append(
            dict(case=name, metric='train step', value=median(t), unit='s'))
        rows.append(
            dict(
                case=name,
                metric='img/s',
                value=args.batch / median(t),
                unit='img/s'))
        if name != 'mmpretrain_mae_b':
            ratios.append(
                dict(
                    name=f'{name} / mmpretrain_mae_b steps/s',
                    value=ref / median(t),
                    goal=0.95))
    print(f'training step, batch {args.batch}, {args.threads} threads, '
          f'median of {args.rounds} interleaved rounds')
    print_table(rows, ratios)
    path = save_result(
        'ecmae',
        rows,
        ratios,
        config=dict(
            batch=args.batch, rounds=args.rounds, threads=args.threads))
    print(f'wrote {path}')


if __name__ == '__main__':
    main()

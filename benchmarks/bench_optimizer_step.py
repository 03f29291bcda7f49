# Copyright (c) ecdl_mm contributors. All rights reserved.
"""AdamW step time of the stage-2 and stage-3 ViT-B models: mmengine's /
mmpretrain's per-parameter param groups against the grouped constructors.

Builds the shipped stage-2 (ECMAE ViT-B/16) and stage-3 (ECViT-B/16
clustering classifier) models with random weights and random gradients and
times ``optimizer.step()`` alone, cases alternating round by round:

- per-parameter groups (``DefaultOptimWrapperConstructor`` /
  ``LearningRateDecayOptimWrapperConstructor``), PyTorch's default
  implementation (single-tensor on CPU, foreach on CUDA): before;
- the same groups with ``foreach=True``;
- merged groups (``GroupedOptimWrapperConstructor`` /
  ``GroupedLayerDecayOptimWrapperConstructor``) with ``foreach=True``;
- merged groups with ``fused=True`` (what the grouped constructors choose
  on CUDA).

    python benchmarks/bench_optimizer_step.py [--device cpu|cuda]
        [--rounds 5]
"""
import argparse
import os.path as osp

import _common  # noqa: F401  (puts the repo on sys.path)
from _common import REPO_ROOT, interleaved, median, print_table, save_result

CONFIGS = dict(
    stage2=('configs/ecdl/ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py',
            'DefaultOptimWrapperConstructor',
            'GroupedOptimWrapperConstructor'),
    stage3=('configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py',
            'LearningRateDecayOptimWrapperConstructor',
            'GroupedLayerDecayOptimWrapperConstructor'))


def build_optimizers(path, before, after, device):
    import torch
    from mmengine.config import Config
    from mmpretrain.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    cfg.model.backbone.init_cfg = None  # random weights, no download
    model = MODELS.build(cfg.model).to(device)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    optimizer = dict(cfg.optim_wrapper.optimizer)
    paramwise = cfg.optim_wrapper.paramwise_cfg

    def build(constructor, **impl):
        return OPTIM_WRAPPER_CONSTRUCTORS.build(
            dict(
                type=constructor,
                optim_wrapper_cfg=dict(
                    type='OptimWrapper', optimizer=dict(optimizer, **impl)),
                paramwise_cfg=paramwise))(model).optimizer

    return {
        'per-parameter groups, default (before)': build(before),
        'per-parameter groups, foreach': build(before, foreach=True),
        'merged groups, foreach': build(after, foreach=True),
        'merged groups, fused': build(after, fused=True),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default=None)
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()

    import torch

    import ecdl_mm  # noqa: F401
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device == 'cpu':
        torch.set_num_threads(1)

    def timed(opt):

        def run():
            opt.step()
            if device == 'cuda':
                torch.cuda.synchronize()

        return run

    rows, ratios = [], []
    for stage, (path, before, after) in CONFIGS.items():
        opts = build_optimizers(path, before, after, device)
        times = interleaved({
            k: timed(o)
            for k, o in opts.items()
        }, args.rounds)
        base = median(times['per-parameter groups, default (before)'])
        for k, opt in opts.items():
            rows.append(
                dict(
                    case=f'{stage} {k} ({len(opt.param_groups)} groups)',
                    metric='AdamW step',
                    value=median(times[k]) * 1e3,
                    unit='ms'))
        for k in list(opts)[1:]:
            ratios.append(
                dict(
                    name=f'{stage} {k} vs before, step speed-up',
                    value=base / median(times[k])))
    print(f'AdamW step on {device}, {args.rounds} rounds (median):')
    print_table(rows, ratios)
    path = save_result(
        'optimizer_step',
        rows,
        ratios,
        config=dict(device=device, rounds=args.rounds))
    print(f'wrote {path}')


if __name__ == '__main__':
    main()

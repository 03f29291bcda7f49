# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Speed of EC-DL's supervised deep clustering parts (run by hand, CPU or GPU).

(a) One training step (data preprocessor, forward, CE + centre loss, backward,
    AdamW step, and ClassCenterHook's per-iteration banking) with
    ``SupervisedClusteringHead`` versus the same step with mmpretrain's
    ``LinearClsHead``: same backbone weights, same batch. Steps of the two
    models are interleaved so that load from other processes hits both alike;
    the ratio of the medians is reported. Goal: <= 1.05x.
(b) Centre update for ``N x C`` = 100k x 768 features (``class_sums`` +
    ``ClassCenterHook.update_centers``) versus a Python loop over samples
    (one tensor row add per sample) on a 10k slice, extrapolated per sample.

    python benchmarks/bench_clustering.py [--device cpu] [--repeats 41]

Writes benchmarks/results/bench_clustering.json.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import time
from types import SimpleNamespace

import _common  # noqa: F401  (puts the repo on sys.path)
import torch
from _common import interleaved
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import ecdl_mm  # noqa: F401
from ecdl_mm.engine.hooks import ClassCenterHook
from ecdl_mm.engine.hooks.class_center_hook import class_sums


def sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def synced(fn, device):
    """``fn`` followed by a device sync, so that timings include GPU work."""

    def run():
        out = fn()
        sync(device)
        return out

    return run


def build(backbone, head_type, embed_dims, num_classes, device):
    torch.manual_seed(0)
    head = dict(
        type=head_type,
        num_classes=num_classes,
        in_channels=embed_dims,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1))
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(
                num_classes=num_classes,
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                to_rgb=True),
            backbone=backbone,
            head=head)).to(device)
    model.train()
    optim = OptimWrapper(
        torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05))
    return model, optim


def bench_step(args):
    device = args.device
    backbone = dict(
        type='ECViT',
        arch=dict(
            embed_dims=args.embed_dims,
            num_layers=args.num_layers,
            num_heads=args.embed_dims // 64,
            feedforward_channels=4 * args.embed_dims),
        img_size=args.img_size,
        patch_size=16)
    num_classes = 3
    lin, lin_opt = build(backbone, 'LinearClsHead', args.embed_dims,
                         num_classes, device)
    clu, clu_opt = build(backbone, 'SupervisedClusteringHead', args.embed_dims,
                         num_classes, device)
    clu.load_state_dict(lin.state_dict(), strict=False)
    # Centres valid, as in every epoch after the first.
    clu.head.set_centers(torch.randn(num_classes, args.embed_dims))
    hook = ClassCenterHook()
    runner = SimpleNamespace(
        model=clu, train_dataloader=SimpleNamespace(dataset=None))
    hook.before_train(runner)
    hook.before_train_epoch(runner)

    g = torch.Generator().manual_seed(0)
    data = dict(
        inputs=[
            torch.randint(
                0,
                256, (3, args.img_size, args.img_size),
                dtype=torch.uint8,
                generator=g) for _ in range(args.batch_size)
        ],
        data_samples=[
            DataSample().set_gt_label(i % num_classes)
            for i in range(args.batch_size)
        ])

    def step_lin():
        lin.train_step(data, lin_opt)

    def step_clu():
        losses = clu.train_step(data, clu_opt)
        hook.after_train_iter(runner, 0)
        return losses

    times = interleaved(
        dict(
            linear=synced(step_lin, device),
            clustering=synced(step_clu, device)),
        args.repeats,
        warmup=args.warmup)
    t_lin, t_clu = times['linear'], times['clustering']
    # The heads alone (loss + backward on the pooled feature, plus the hook's
    # banking for the clustering head): a load-independent view of the
    # extra cost, in microseconds per step.
    feat = torch.randn(
        args.batch_size, args.embed_dims, device=device, requires_grad=True)
    samples = data['data_samples']

    def head_lin():
        sum(lin.head.loss((feat, ), samples).values()).backward()

    def head_clu():
        sum(clu.head.loss((feat, ), samples).values()).backward()
        hook.after_train_iter(runner, 0)

    head_us = {}
    for name, fn in (('linear', head_lin), ('clustering', head_clu)):
        for _ in range(10):
            fn()
        sync(device)
        t0 = time.perf_counter()
        for _ in range(200):
            fn()
        sync(device)
        head_us[name] = 1e6 * (time.perf_counter() - t0) / 200

    logged = step_clu()
    assert logged['loss_center'] > 0, 'centre term inactive in benchmark'
    med_lin, med_clu = statistics.median(t_lin), statistics.median(t_clu)
    return dict(
        backbone=f'ECViT {args.embed_dims}d x {args.num_layers} layers, '
        f'{args.img_size}px, patch 16',
        batch_size=args.batch_size,
        repeats=args.repeats,
        linear_step_ms_median=1e3 * med_lin,
        clustering_step_ms_median=1e3 * med_clu,
        linear_step_ms_all=[round(1e3 * t, 2) for t in t_lin],
        clustering_step_ms_all=[round(1e3 * t, 2) for t in t_clu],
        ratio_clustering_over_linear=med_clu / med_lin,
        head_only_us=head_us,
        head_overhead_share_of_linear_step=(head_us['clustering'] -
                                            head_us['linear']) /
        (1e6 * med_lin),
        goal='<= 1.05')


def python_loop_update(feats, labels, num_classes):
    """A Python loop over samples (as in the EC-DL release), one row add per
    sample; returns the per-class means."""
    sums = feats.new_zeros(num_classes, feats.size(1))
    counts = [0] * num_classes
    for f, y in zip(feats, labels.tolist()):
        sums[y] += f
        counts[y] += 1
    return sums / torch.tensor(counts, dtype=sums.dtype).clamp_min(1)[:, None]


def bench_centres(args):
    device = args.device
    n, c, k = args.num_feats, 768, 3
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(n, c, generator=g).to(device)
    labels = torch.randint(0, k, (n, ), generator=g).to(device)
    head = MODELS.build(
        dict(type='SupervisedClusteringHead', num_classes=k,
             in_channels=c)).to(device)
    hook = ClassCenterHook()

    def vectorised():
        sums, counts = class_sums(feats, labels, k)
        hook.update_centers(head, sums, counts)

    times = interleaved(
        dict(vectorised=synced(vectorised, device)),
        args.repeats)['vectorised']
    t_vec = statistics.median(times)

    m = args.loop_slice
    feats_cpu, labels_cpu = feats[:m].cpu(), labels[:m].cpu()
    t0 = time.perf_counter()
    ref = python_loop_update(feats_cpu, labels_cpu, k)
    t_loop = time.perf_counter() - t0
    # Same numbers on the slice (sanity check of the benchmark itself).
    s, cnt = class_sums(feats_cpu, labels_cpu, k)
    torch.testing.assert_close(
        (s / cnt.unsqueeze(1)).float(), ref, rtol=1e-4, atol=1e-5)
    loop_per_sample = t_loop / m
    return dict(
        num_feats=n,
        feat_dim=c,
        num_classes=k,
        vectorised_ms_median=1e3 * t_vec,
        vectorised_ms_all=[round(1e3 * t, 3) for t in times],
        python_loop_slice=m,
        python_loop_slice_s=t_loop,
        python_loop_extrapolated_s=loop_per_sample * n,
        speedup_vectorised_over_loop=loop_per_sample * n / t_vec)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--img-size', type=int, default=112)
    parser.add_argument('--embed-dims', type=int, default=192)
    parser.add_argument('--num-layers', type=int, default=6)
    parser.add_argument('--repeats', type=int, default=41)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--num-feats', type=int, default=100_000)
    parser.add_argument('--loop-slice', type=int, default=10_000)
    parser.add_argument(
        '--out',
        default=osp.join(
            osp.dirname(osp.abspath(__file__)), 'results',
            'bench_clustering.json'))
    args = parser.parse_args()

    step = bench_step(args)
    print(f"(a) train step, {step['backbone']}, batch {args.batch_size}: "
          f"linear {step['linear_step_ms_median']:.1f} ms, clustering "
          f"{step['clustering_step_ms_median']:.1f} ms (median of "
          f"{args.repeats}) -> ratio "
          f"{step['ratio_clustering_over_linear']:.3f}x (goal <= 1.05x)")
    print(f"    heads alone: linear {step['head_only_us']['linear']:.0f} us, "
          f"clustering + banking {step['head_only_us']['clustering']:.0f} us"
          f" -> extra cost = "
          f"{100 * step['head_overhead_share_of_linear_step']:.2f}% of the "
          'linear step')
    centres = bench_centres(args)
    print(f"(b) centre update {centres['num_feats']} x {centres['feat_dim']}:"
          f" {centres['vectorised_ms_median']:.1f} ms (median of "
          f"{args.repeats}); Python per-sample loop "
          f"{centres['python_loop_slice_s']:.2f} s on {args.loop_slice} -> "
          f"{centres['python_loop_extrapolated_s']:.1f} s extrapolated -> "
          f"{centres['speedup_vectorised_over_loop']:.0f}x faster")

    result = dict(
        device=args.device,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        machine=platform.processor() or platform.machine(),
        train_step=step,
        centre_update=centres)
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()

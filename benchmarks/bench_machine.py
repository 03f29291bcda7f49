# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Machine ceiling and ViT-B/16 inference against it; ECViT vs others.

- fp32 GEMM GFLOP/s (``torch.mm``, 2048x2048, best of a few): the ceiling;
- ViT-B/16 classifiers at 224 px, batch 1 and 16, in img/s and as a fraction
  of the ceiling (model FLOPs counted by mmengine's ``FlopAnalyzer``, the
  fvcore counter, which counts a multiply-add as one: the fraction uses
  2 FLOPs per multiply-add, attention matmuls included), for ECViT-B,
  mmpretrain's ``VisionTransformer`` (arch b, average pooling, no class
  token: the same work as ECViT) and, when ``timm`` is importable,
  ``timm``'s ``vit_base_patch16_224`` (the column is skipped otherwise);
- peak memory of one batch-16 forward of each (CPU: the peak resident set
  above the resident model, each model in a fresh process; CUDA: peak
  allocated).

All models run with random weights under ``torch.inference_mode`` and
alternate round by round.

    python benchmarks/bench_machine.py [--rounds 4] [--threads N] \
        [--device cpu]
"""
import argparse
import json
import resource
import subprocess
import sys
import time

import _common  # noqa: F401  (puts the repo on sys.path)
import torch
import torch.nn as nn
from _common import interleaved, median, print_table, save_result

MODEL_NAMES = ('ecvit', 'mmpretrain_vit', 'timm_vit')


def gemm_gflops(n: int = 2048, repeats: int = 5, device='cpu') -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    c = torch.empty(n, n, device=device)
    torch.mm(a, b, out=c)
    best = float('inf')
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


class _Logits(nn.Module):
    """mmpretrain classifier -> logits tensor (for tracing / timing)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')


def build(name: str) -> nn.Module:
    """A ViT-B/16 224 px 3-class classifier, random weights, eval mode."""
    if name == 'timm_vit':
        import timm
        return timm.create_model(
            'vit_base_patch16_224', pretrained=False, num_classes=3).eval()
    from mmpretrain.registry import MODELS

    import ecdl_mm  # noqa: F401
    if name == 'ecvit':
        backbone = dict(type='ECViT', arch='base', img_size=224, patch_size=16)
    elif name == 'mmpretrain_vit':
        # The stock model doing ECViT's work: average pooling (+ its norm),
        # no class token, no token-level final norm; it differs only by its
        # learnt position embedding and fused qkv bias.
        backbone = dict(
            type='VisionTransformer',
            arch='b',
            img_size=224,
            patch_size=16,
            out_type='avg_featmap',
            with_cls_token=False,
            final_norm=False)
    else:
        raise ValueError(f'unknown model {name!r}')
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=backbone,
            head=dict(type='LinearClsHead', num_classes=3, in_channels=768)))
    return _Logits(model.eval())


def available(name: str) -> bool:
    try:
        if name == 'timm_vit':
            import timm  # noqa: F401
        elif name == 'ecvit':
            from mmpretrain.registry import MODELS

            import ecdl_mm  # noqa: F401
            return MODELS.get('ECViT') is not None
        return True
    except ImportError:
        return False


def _sdpa_flop_jit(inputs, outputs):
    """Multiply-adds of scaled_dot_product_attention: QK^T and AV."""
    from mmengine.analysis.jit_handles import get_shape
    q, k = get_shape(inputs[0]), get_shape(inputs[1])
    batch = 1
    for d in q[:-2]:
        batch *= d
    return 2 * batch * q[-2] * k[-2] * q[-1]


def macs_per_image(model: nn.Module) -> float:
    from mmengine.analysis import FlopAnalyzer
    fa = FlopAnalyzer(model, torch.randn(1, 3, 224, 224))
    fa.set_op_handle('aten::scaled_dot_product_attention', _sdpa_flop_jit)
    fa.unsupported_ops_warnings(False)
    fa.uncalled_modules_warnings(False)
    with torch.no_grad():
        return float(fa.total())


def child_peak_memory(name: str, batch: int, device: str) -> dict:
    """Run in a fresh process: peak memory of one forward."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = build(name).to(device)
    x = torch.randn(batch, 3, 224, 224, device=device)
    with torch.inference_mode():
        model(x[:1])  # allocator and lazy init settle
        if device.startswith('cuda'):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            model(x)
            torch.cuda.synchronize()
            return dict(
                peak_mib=(torch.cuda.max_memory_allocated() - base) / 2**20,
                kind='cuda peak allocated above model+input')
        with open('/proc/self/statm') as f:
            rss_now = int(f.read().split()[1]) * resource.getpagesize()
        model(x)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return dict(
        peak_mib=max(0, peak - rss_now) / 2**20,
        kind='peak RSS above resident model+input')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=4)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--skip-memory', action='store_true')
    parser.add_argument('--child-memory', help=argparse.SUPPRESS)
    parser.add_argument(
        '--batch', type=int, default=16, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child_memory:
        print(
            json.dumps(
                child_peak_memory(args.child_memory, args.batch, args.device)))
        return

    device = args.device
    names = [n for n in MODEL_NAMES if available(n)]
    skipped = [n for n in MODEL_NAMES if n not in names]
    ceiling = gemm_gflops(device=device)
    rows = [
        dict(
            case='fp32 GEMM 2048^3',
            metric='GFLOP/s',
            value=ceiling,
            unit='GFLOP/s')
    ]
    models = {n: build(n).to(device) for n in names}
    macs = {n: macs_per_image(m.cpu()) for n, m in models.items()}
    models = {n: m.to(device) for n, m in models.items()}
    for n in names:
        rows.append(
            dict(
                case=n,
                metric='GMAC/img (FlopAnalyzer)',
                value=macs[n] / 1e9,
                unit='GMAC'))

    ips = {}
    for batch, reps in ((1, 4), (16, 1)):
        x = torch.randn(batch, 3, 224, 224, device=device)

        def run(model, x=x, reps=reps):

            def fn():
                with torch.inference_mode():
                    for _ in range(reps):
                        model(x)
                _sync(device)

            return fn

        warm = torch.randn(2, 3, 224, 224, device=device)
        with torch.inference_mode():
            for m in models.values():
                m(warm)
        # Warm every model up on this very shape: the first call at a new
        # batch size is slower, and with few rounds it would skew the median
        # of whichever model runs first.
        times = interleaved({
            n: run(m)
            for n, m in models.items()
        },
                            args.rounds,
                            warmup=1)
        for n in names:
            v = batch * reps / median(times[n])
            ips[(n, batch)] = v
            frac = 2 * macs[n] * v / (ceiling * 1e9)
            rows.append(
                dict(
                    case=f'{n} batch {batch}',
                    metric='img/s',
                    value=v,
                    unit='img/s'))
            rows.append(
                dict(
                    case=f'{n} batch {batch}',
                    metric='fraction of GEMM '
                    'ceiling',
                    value=frac,
                    unit=''))

    memory = {}
    if not args.skip_memory:
        for n in names:
            out = subprocess.run(
                [
                    sys.executable, __file__, '--child-memory', n, '--batch',
                    '16', '--device', device
                ] + (['--threads', str(args.threads)] if args.threads else []),
                capture_output=True,
                text=True,
                check=True)
            memory[n] = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(
                dict(
                    case=f'{n} batch 16',
                    metric='peak memory',
                    value=memory[n]['peak_mib'],
                    unit='MiB'))

    ratios = []
    if 'ecvit' in names:
        for other in names:
            if other == 'ecvit':
                continue
            for batch in (1, 16):
                ratios.append(
                    dict(
                        name=f'ecvit / {other} img/s, batch {batch}',
                        value=ips[('ecvit', batch)] / ips[(other, batch)],
                        goal=0.95 if other == 'mmpretrain_vit' else None))
            if other in memory and memory[other]['peak_mib'] > 0:
                ratios.append(
                    dict(
                        name=f'ecvit / {other} peak memory, batch 16',
                        value=memory['ecvit']['peak_mib'] /
                        memory[other]['peak_mib'],
                        higher_is='worse'))
    print(f'machine ceiling and ViT-B/16 inference ({device}, '
          f'{torch.get_num_threads()} threads, {args.rounds} rounds, '
          f'median); skipped: {skipped or "none"}')
    print_table(rows, ratios)
    extra = {}
    if 'timm_vit' in names:
        import timm
        extra['timm_version'] = timm.__version__
    path = save_result(
        'machine',
        rows,
        ratios,
        config=dict(
            rounds=args.rounds,
            device=device,
            threads=torch.get_num_threads(),
            skipped=skipped,
            memory_kind=next(iter(memory.values()))['kind']
            if memory else None),
        extra=extra)
    print(f'wrote {path}')


if __name__ == '__main__':
    main()

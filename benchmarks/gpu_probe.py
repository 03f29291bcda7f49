# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Where the GPU time goes: the diagnostics behind issue 25's figures.

    python benchmarks/gpu_probe.py --out OUT_DIR [--only step loader decode
                                                     augment]

- ``step``: the stage-3 training step (ViT-B/16, batch 64, AMP fp16) of our
  config, of mmpretrain's ViT-B in our config and of timm's ViT-B/16, each
  split into the data preprocessor, forward + backward alone, and the whole
  ``train_step`` (optimizer wrapper and hooks included); our model also in
  timm's plain loop (one fused AdamW group, ``GradScaler``). Then a
  ``torch.profiler`` trace of a few steps per case: GPU kernel time per step
  against the wall time (a step whose wall time exceeds its kernel time is
  bound by the CPU launching work) and the kernels and CPU ops that cost
  most.
- ``loader``: the stage-3 training data path alone (synthetic 1160x1009
  JPEGs) with 0, 1, 2, 4, 8, 12 and 15 loader workers: images/s and images/s
  per worker, to see how the workers scale on this machine.
- ``decode``: the demo JPEGs decoded by OpenCV on the CPU, and by nvJPEG
  (``torchvision.io.decode_jpeg(device='cuda')``) one at a time and in one
  batched call.
- ``augment``: the stage-3 ``-gpu-augment`` config's data preprocessor on a
  batch of demo files (decode, crop, flip, RandAugment, erasing, normalise)
  and the recorded augmentations alone, ms per batch, beside the same
  augmentations by mmcv on one CPU core (not in the default ``--only``).

Writes ``OUT_DIR/gpu_probe.json`` and prints each figure as it is measured.
Runs on a CPU too (``--device cpu``, small figures; no profiler kernels).
"""
import argparse
import copy
import glob
import json
import os
import os.path as osp
import sys
import tempfile
import time

import _common  # noqa: F401  (puts the repo on sys.path)
import numpy as np
import torch
from _common import DEFAULT_DEMO_ROOT, env_info

BENCH_DIR = osp.dirname(osp.abspath(__file__))
RESULT = {}


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn, n, warmup=3):
    for _ in range(warmup):
        fn()
    _sync()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    _sync()
    return (time.perf_counter() - t) / n * 1000


def _profile(fn, n=4):
    """(kernel ms per step, wall ms per step, top kernels, top CPU ops)."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        acts.append(ProfilerActivity.CUDA)
    fn()
    _sync()
    with profile(activities=acts) as prof:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        _sync()
        wall = (time.perf_counter() - t) / n * 1000
    ev = prof.key_averages()
    dev = [(e.key, getattr(e, 'self_device_time_total', 0) / 1000 / n,
            e.count / n) for e in ev]
    dev = sorted([d for d in dev if d[1] > 0], key=lambda d: -d[1])
    cpu = sorted([(e.key, e.self_cpu_time_total / 1000 / n, e.count / n)
                  for e in ev],
                 key=lambda d: -d[1])
    kernel_ms = sum(d[1] for d in dev)
    return dict(
        kernel_ms_per_step=round(kernel_ms, 3),
        wall_ms_per_step=round(wall, 3),
        top_kernels=[(k[:90], round(ms, 3), c) for k, ms, c in dev[:14]],
        top_cpu_ops=[(k[:60], round(ms, 3), c) for k, ms, c in cpu[:14]])


def _report(section, case, doc):
    RESULT.setdefault(section, {})[case] = doc
    print(f'[{section}] {case}: {json.dumps(doc)}', flush=True)


# ---------------------------------------------------------------- step
def _runner_case(args, root, model=None):
    import bench_gpu_train as bgt
    from mmengine.runner import Runner
    ns = argparse.Namespace(
        device=args.device,
        batch=args.batch,
        workers=2,
        images=args.batch * 2,
        iters=1)
    cfg, _ = bgt.configure(args.stage3, ns, root, copy.deepcopy(model), 3)
    runner = Runner.from_cfg(cfg)
    ow = runner.build_optim_wrapper(cfg.optim_wrapper)
    runner.optim_wrapper = ow
    hooks = bgt.custom_hooks(runner, cfg)
    loader = runner.build_dataloader(cfg.train_dataloader)
    batch = next(iter(loader))
    bgt._stop_workers(loader)
    return runner, runner.model, ow, hooks, batch


def probe_step(args, root):
    import bench_gpu_train as bgt
    mm_vit = bgt.mmpretrain_vit_model(args.stage3)
    cuda = args.device == 'cuda'
    for name, model_cfg in (('ours', None), ('mmpretrain_vit', mm_vit)):
        runner, model, ow, hooks, batch = _runner_case(args, root, model_cfg)
        step = bgt.train_step_fn(runner, model, ow, hooks, batch)

        def bank():  # what ClassCenterHook does to the head, without it
            head = getattr(model, 'head', None)
            if getattr(head, 'last_feats', None) is not None:
                head.last_feats = head.last_labels = None

        data = model.data_preprocessor(batch, True)

        def preproc():
            model.data_preprocessor(batch, True)

        def fwd_bwd():
            with torch.autocast('cuda', torch.float16, enabled=cuda):
                losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
            loss.backward()
            bank()
            model.zero_grad(set_to_none=True)

        opt = torch.optim.AdamW(
            model.parameters(), lr=1e-4, weight_decay=0.05, fused=cuda)
        scaler = torch.amp.GradScaler('cuda', enabled=cuda)

        def plain():
            with torch.autocast('cuda', torch.float16, enabled=cuda):
                losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            bank()

        n = args.steps
        doc = dict(
            preproc_ms=_timed(preproc, n),
            fwd_bwd_ms=_timed(fwd_bwd, n),
            plain_loop_ms=_timed(plain, n),
            train_step_ms=_timed(step, n),
            param_groups=len(ow.optimizer.param_groups),
            optimizer=repr({
                k: v
                for k, v in ow.optimizer.defaults.items()
                if k in ('fused', 'foreach', 'lr')
            }),
            optim_wrapper=type(ow).__name__,
            clip_grad=getattr(ow, 'clip_grad_kwargs', None))
        for k in list(doc):
            if k.endswith('_ms'):
                doc[k.replace('_ms', '_img_per_s')] = round(
                    args.batch / doc[k] * 1000, 1)
                doc[k] = round(doc[k], 3)
        doc['profile_train_step'] = _profile(step)
        doc['profile_fwd_bwd'] = _profile(fwd_bwd)
        _report('step', name, doc)
        runner = model = ow = opt = None  # noqa: F841 (free before the next)
        torch.cuda.empty_cache() if cuda else None
    try:
        import timm
    except ImportError:
        _report('step', 'timm', dict(skipped='timm not installed'))
        return
    dev = torch.device(args.device)
    net = timm.create_model(
        'vit_base_patch16_224',
        pretrained=False,
        num_classes=3,
        drop_path_rate=0.1).to(dev)
    opt = torch.optim.AdamW(
        net.parameters(), lr=1e-3, weight_decay=0.05, fused=cuda)
    scaler = torch.amp.GradScaler('cuda', enabled=cuda)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(args.batch, 3, 224, 224, device=dev)
    y = torch.randint(0, 3, (args.batch, ), device=dev)

    def t_step():
        with torch.autocast('cuda', torch.float16, enabled=cuda):
            loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    def t_fwd_bwd():
        with torch.autocast('cuda', torch.float16, enabled=cuda):
            loss = loss_fn(net(x), y)
        loss.backward()
        net.zero_grad(set_to_none=True)

    n = args.steps
    doc = dict(
        fwd_bwd_ms=round(_timed(t_fwd_bwd, n), 3),
        plain_loop_ms=round(_timed(t_step, n), 3))
    for k in list(doc):
        doc[k.replace('_ms', '_img_per_s')] = round(args.batch / doc[k] * 1000,
                                                    1)
    doc['profile_train_step'] = _profile(t_step)
    doc['profile_fwd_bwd'] = _profile(t_fwd_bwd)
    _report('step', 'timm', doc)


# -------------------------------------------------------------- loader
def probe_loader(args, root):
    import bench_gpu_train as bgt
    from mmengine.runner import Runner
    counts = [int(w) for w in args.workers]
    for workers in counts:
        for pin in ((True, False) if workers == max(counts) else (True, )):
            ns = argparse.Namespace(
                device=args.device,
                batch=32,
                workers=workers,
                images=256,
                iters=1)
            cfg, _ = bgt.configure(args.stage3, ns, root, None, 3)
            cfg.train_dataloader.pin_memory = pin and args.device == 'cuda'
            loader = Runner.build_dataloader(cfg.train_dataloader)
            it = iter(loader)
            t0 = time.perf_counter()
            for _ in range(2 if workers else 1):
                next(it)
            start = time.perf_counter() - t0
            n, t = 0, time.perf_counter()
            while time.perf_counter() - t < args.loader_seconds:
                b = next(it, None)
                if b is None:
                    it = iter(loader)
                    continue
                n += len(b['inputs'])
            rate = n / (time.perf_counter() - t)
            if workers:
                bgt._stop_workers(loader)
            _report(
                'loader', f'workers={workers} pin={pin}',
                dict(
                    img_per_s=round(rate, 1),
                    per_worker=round(rate / max(1, workers), 1),
                    start_s=round(start, 2),
                    images=n))


# -------------------------------------------------------------- decode
def probe_decode(args):
    import cv2
    files = sorted(
        glob.glob(osp.join(args.demo_root, '*', '*', 'Images', '*.jpg')))
    blobs = [open(f, 'rb').read() for f in files]
    arrs = [np.frombuffer(b, np.uint8) for b in blobs]
    cv2.setNumThreads(1)
    t = time.perf_counter()
    for a in arrs:
        cv2.imdecode(a, cv2.IMREAD_COLOR)
    cpu_ms = (time.perf_counter() - t) / len(arrs) * 1000
    shape = cv2.imdecode(arrs[0], cv2.IMREAD_COLOR).shape
    doc = dict(images=len(files), shape=list(shape), cv2_ms=round(cpu_ms, 3))
    if args.device == 'cuda':
        from torchvision.io import decode_jpeg
        tens = [
            torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs
        ]
        for _ in range(3):
            decode_jpeg(tens[0], device='cuda')
            decode_jpeg(tens, device='cuda')
        _sync()
        lat = []
        for x in tens:
            t = time.perf_counter()
            decode_jpeg(x, device='cuda')
            _sync()
            lat.append(time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(5):
            decode_jpeg(tens, device='cuda')
        _sync()
        batched = (time.perf_counter() - t) / 5 / len(tens) * 1000
        doc.update(
            nvjpeg_b1_ms_p50=round(float(np.median(lat)) * 1000, 3),
            nvjpeg_batched_ms_per_image=round(batched, 3))
    _report('decode', 'demo jpegs', doc)


# ------------------------------------------------------------- augment
def probe_augment(args):
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmpretrain.registry import MODELS, TRANSFORMS

    from ecdl_mm.models.data_preprocessors import apply_device_augments
    cfg = Config.fromfile(
        osp.join(
            _common.REPO_ROOT, 'configs', 'ecdl',
            'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi-gpu-augment.py'))
    files = sorted(
        glob.glob(osp.join(args.demo_root, '*', '*', 'Images', '*.jpg')))
    files = (files * (args.batch // len(files) + 1))[:args.batch]
    pipe = Compose([TRANSFORMS.build(t) for t in cfg.train_pipeline])
    np.random.seed(0)
    batch = pseudo_collate([pipe(dict(img_path=f)) for f in files])
    pre = MODELS.build(cfg.data_preprocessor).to(args.device)
    records = [s.device_augments for s in batch['data_samples']]
    plain = [s.clone() for s in batch['data_samples']]
    for s in plain:
        s.set_metainfo(dict(device_augments=None))
    with torch.no_grad():
        crops = pre.decode_crops(batch['inputs'], plain)  # not augmented
        n = 2 if args.device == 'cpu' else 20
        doc = dict(
            batch=len(files),
            preprocessor_ms=round(_timed(lambda: pre(batch, True), n), 3),
            augments_alone_ms=round(
                _timed(lambda: apply_device_augments(crops, records), n), 3))
    # the same augmentations on the CPU by mmcv, one image after the other
    cpu_augs = [TRANSFORMS.build(t) for t in cfg.train_pipeline[1].transforms]
    imgs = [c.permute(1, 2, 0).byte().cpu().numpy() for c in crops]
    t = time.process_time()
    for img in imgs:
        r = dict(img=img.copy(), img_shape=img.shape)
        for a in cpu_augs:
            r = a(r)
    doc['mmcv_cpu_ms_per_image'] = round(
        (time.process_time() - t) / len(imgs) * 1000, 3)
    doc['augments_alone_ms_per_image'] = round(
        doc['augments_alone_ms'] / len(files), 4)
    if args.device == 'cuda':
        # the same ops on the CPU (where they are tested against mmcv)
        with torch.no_grad():
            got = apply_device_augments(crops, records).cpu()
            ref = apply_device_augments(crops.cpu(), records)
        diff = (got - ref).abs()
        doc['gpu_vs_cpu_max_abs'] = float(diff.max())
        doc['gpu_vs_cpu_share_differing'] = float((diff > 0).float().mean())
        doc['profile_augments'] = _profile(
            lambda: apply_device_augments(crops, records))
        try:  # a diagnostic: its failure keeps the figures above
            doc.update(decode_race(files[:8]))
        except Exception as err:  # noqa: BLE001
            doc['decode_race_error'] = repr(err)
    _report('augment', 'stage-3 gpu-augment preprocessor', doc)


def decode_race(files, iters=20):
    """Whether nvJPEG overwrites memory that kernels queued on the caller's
    stream still read (pytorch/vision#9606), with torchvision's decode as
    it is and through ``decode_jpegs`` (which drains the stream first):
    the images whose queued sums came out wrong (``decode_race_images``
    checked each way). Also run by ``tests/test_utils/test_device_jpeg.py``
    on a GPU."""
    from torchvision.io import ImageReadMode, decode_jpeg

    from ecdl_mm.utils.device_jpeg import decode_jpegs
    blobs = [
        torch.frombuffer(bytearray(open(f, 'rb').read()), dtype=torch.uint8)
        for f in files
    ]
    ref = decode_jpeg(blobs, mode=ImageReadMode.RGB, device='cuda')
    out = {}
    for name, decode in (
        ('torchvision',
         lambda: decode_jpeg(blobs, mode=ImageReadMode.RGB, device='cuda')),
        ('decode_jpegs', lambda: decode_jpegs(blobs, 'cuda')),
    ):
        bad = 0
        for _ in range(iters):
            tmp = [torch.full_like(r, 7) for r in ref]
            _sync()
            torch.cuda._sleep(50_000_000)  # ~25 ms of queued work
            sums = [t.sum(dtype=torch.int64) for t in tmp]  # queued reads
            del tmp  # freed while the reads wait
            decode()  # may be handed those blocks
            bad += sum(int(x) != 7 * r.numel() for x, r in zip(sums, ref))
        out[f'decode_race_corrupted_{name}'] = bad
    out['decode_race_images'] = iters * len(ref)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True)
    parser.add_argument(
        '--only', nargs='*', default=['decode', 'step', 'loader'])
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument(
        '--stage3',
        default=osp.join(_common.REPO_ROOT, 'configs', 'ecdl',
                         'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py'))
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument(
        '--workers', nargs='*', default=['0', '1', '2', '4', '8', '12', '15'])
    parser.add_argument('--loader-seconds', type=float, default=3.0)
    parser.add_argument('--demo-root', default=DEFAULT_DEMO_ROOT)
    parser.add_argument('--data', help='existing synthetic cohort folder')
    args = parser.parse_args()
    if args.device == 'cpu':
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    sys.path.insert(0, BENCH_DIR)
    import bench_gpu_train as bgt

    import ecdl_mm  # noqa: F401
    os.makedirs(args.out, exist_ok=True)
    RESULT['env'] = env_info()
    root = args.data or tempfile.mkdtemp(prefix='ecnbi_synth_')
    if {'step', 'loader'} & set(args.only) and not osp.isfile(
            osp.join(root, 'train.csv')):
        bgt.make_cohort(root, 256)
    sections = dict(
        decode=lambda: probe_decode(args),
        step=lambda: probe_step(args, root),
        loader=lambda: probe_loader(args, root),
        augment=lambda: probe_augment(args))
    for name in args.only:
        t = time.perf_counter()
        try:
            sections[name]()
        except Exception as err:  # noqa: BLE001 (the others still run)
            import traceback
            traceback.print_exc()
            RESULT.setdefault('errors', {})[name] = repr(err)
        print(
            f'gpu_probe: {name} done in {time.perf_counter() - t:.1f} s',
            flush=True)
        with open(osp.join(args.out, 'gpu_probe.json'), 'w') as f:
            json.dump(RESULT, f, indent=1, default=str)
    if RESULT.get('errors'):
        # the figures of the other sections are in the JSON already
        sys.exit('gpu_probe: failed sections: ' +
                 ', '.join(sorted(RESULT['errors'])))


if __name__ == '__main__':
    main()

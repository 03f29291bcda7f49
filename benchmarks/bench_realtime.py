# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The live CAD against its frame budget.

Measures, in one run:

- ``gate``: the quality gate's time per frame on the 40 demo stills at their
  native 1160x1009, and its separation on graded copies of them (Gaussian
  blur, darkening, over-exposure): the share of frames accepted per level
  and the ROC AUC of the focus measure, sharp against blurred (scikit-learn);
- ``model``: frames per second at batch 1 of the model alone (normalised
  tensor in, probabilities out), eager fp32 against TorchScript int8, for
  the tiny demo model at 64 px and for ViT-B/16 at 224 px (random weights:
  speed does not depend on them), and the time of the frame's test
  pipeline;
- ``live``: :class:`ecdl_mm.apis.LiveSession` on a video synthesized from
  the demo stills, paced at its 30 fps as a camera delivers it: latency
  from frame read to updated lesion call (p50, p99) and output frames
  that missed their slot (goal 0), with each model in the worker thread;
- ``today vs new``: the model worker's work per frame (test pipeline and
  probabilities, ``collate`` + ``predict_probs``, what ``model_ms`` times)
  and the live latency, with :class:`StreamInferencer` as committed at
  ``--baseline-rev`` (``benchmarks/_baseline.py``) against today's, on the
  same frames and weights, cases alternating; with and without a flip view
  (today: two model calls, new: one on the frame and its mirror). Goal
  >= 1.0x on the CPU;
- ``gpu`` (only where CUDA exists): ViT-B/16 through ``load_backend``:
  eager fp32 and ``cuda-graph`` fp32 / fp16 / bf16 at batch 1, ms per frame,
  and the ratio to ``LesionInferencer`` per image on the same GPU.

    python benchmarks/bench_realtime.py [--threads 1] [--skip-vit]
"""
import argparse
import glob
import os.path as osp
import tempfile
import time

import _common  # noqa: F401  (puts the repo on sys.path)
import cv2
import numpy as np
import torch
from _baseline import BASELINE_REV, load_at, paired_ratio
from _common import (DEFAULT_DEMO_ROOT, REPO_ROOT, interleaved, median,
                     print_table, save_result)

# the demo model of tools/run_pipeline.sh (ECViT-tiny, patch 8, 64 px)
TINY = osp.join(REPO_ROOT, 'configs', 'ecdl',
                'ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py')
VIT_B = osp.join(REPO_ROOT, 'configs', 'ecdl',
                 'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py')
BLUR = (0, 1, 2, 3, 4, 6)
DARK = (1.0, 0.5, 0.3, 0.2, 0.1)
OVER = (1.0, 1.5, 2.0, 3.0)


def stills(demo_root):
    paths = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images', '*')))
    return [cv2.imread(p) for p in paths]


def bench_gate(images, rows, reps=20):
    from sklearn.metrics import roc_auc_score

    from ecdl_mm.live import FrameQualityGate
    gate = FrameQualityGate()
    times = []
    for _ in range(reps):
        for img in images:
            t0 = time.perf_counter()
            gate(img)
            times.append(time.perf_counter() - t0)
    t = np.asarray(times) * 1000
    rows.append(
        dict(
            case='gate 1160x1009',
            metric='time/frame p50',
            value=float(np.median(t)),
            unit='ms'))
    rows.append(
        dict(
            case='gate 1160x1009',
            metric='time/frame p99',
            value=float(np.percentile(t, 99)),
            unit='ms'))

    def measure(img):
        gate.reset()
        return gate(img)

    table, focus = [], {}
    for name, levels, fn in (('blur sigma', BLUR,
                              lambda im, s: cv2.GaussianBlur(im, (0, 0), s)
                              if s else im),
                             ('dark x', DARK,
                              lambda im, k: cv2.convertScaleAbs(im, alpha=k)),
                             ('over-exposed x', OVER,
                              lambda im, k: cv2.convertScaleAbs(im, alpha=k))):
        for lv in levels:
            res = [measure(fn(im, lv)) for im in images]
            reasons = {}
            for r in res:
                reasons[r['reason']] = reasons.get(r['reason'], 0) + 1
            q = {
                k: np.median([r['quality'][k] for r in res])
                for k in ('focus', 'brightness', 'halation')
            }
            table.append(
                dict(
                    degradation=f'{name} {lv:g}',
                    accepted=sum(r['accepted'] for r in res),
                    of=len(res),
                    reasons=reasons,
                    median_quality={
                        k: round(float(v), 3)
                        for k, v in q.items()
                    }))
            if name == 'blur sigma':
                focus[lv] = [r['quality']['focus'] for r in res]
    aucs = {}
    for lv in BLUR[1:]:
        y = [1] * len(focus[0]) + [0] * len(focus[lv])
        aucs[lv] = float(roc_auc_score(y, focus[0] + focus[lv]))
        rows.append(
            dict(
                case=f'focus sharp vs blur {lv}',
                metric='ROC AUC',
                value=aucs[lv],
                unit=''))
    print('| degradation | accepted | reasons | median focus / brightness / '
          'halation |')
    print('|---|---|---|---|')
    for t in table:
        mq = t['median_quality']
        print(f"| {t['degradation']} | {t['accepted']}/{t['of']} | "
              f"{', '.join(f'{k} {v}' for k, v in t['reasons'].items())} | "
              f"{mq['focus']} / {mq['brightness']} / {mq['halation']} |")
    return dict(gate_table=table, focus_auc=aucs)


def build(config, backend, threads):
    from ecdl_mm.live import StreamInferencer
    inf = StreamInferencer(
        config,
        pretrained=False,
        device='cpu',
        backend=backend,
        num_threads=threads)
    return inf


def bench_models(cases, image, rows, ratios, threads, iters):
    out = {}
    for name, config in cases:
        fps = {}
        for backend in ('eager', 'torchscript-int8'):
            inf = build(config, backend, threads)
            x = inf.model.data_preprocessor(inf.collate([image]),
                                            False)['inputs']
            fn = inf.backend
            for _ in range(3):
                fn(x)
            ts = []
            for _ in range(iters):
                t0 = time.perf_counter()
                fn(x)
                ts.append(time.perf_counter() - t0)
            fps[backend] = 1.0 / median(ts)
            rows.append(
                dict(
                    case=f'{name} {backend}',
                    metric='model fps b1',
                    value=fps[backend],
                    unit='frames/s'))
            if backend == 'eager':
                ts = []
                for _ in range(20):
                    t0 = time.perf_counter()
                    inf.collate([image])
                    ts.append(time.perf_counter() - t0)
                rows.append(
                    dict(
                        case=f'{name} pipeline',
                        metric='time/frame',
                        value=median(ts) * 1000,
                        unit='ms'))
        ratios.append(
            dict(
                name=f'{name}: int8 / eager fps',
                value=fps['torchscript-int8'] / fps['eager']))
        out[name] = fps
    return out


def bench_today_vs_new(cases, images, demo_root, rows, ratios, args):
    """Per-frame model work and live latency, today's StreamInferencer
    against the new one (same weights, frames and threads)."""
    from ecdl_mm.evaluation.operating_point import OperatingPoint
    from ecdl_mm.live import FrameSource, LiveSession, StreamInferencer
    from ecdl_mm.live.demo_video import make_demo_video
    today = load_at(args.baseline_rev, 'ecdl_mm/apis/stream_inferencer.py',
                    '_today_stream_inferencer')
    if today is None:
        return
    frames = images[:8]
    tmp = tempfile.mkdtemp()
    op = OperatingPoint(
        classes=['adenomas', 'invasive_cancer', 'non-neoplastic'],
        view=dict(name='whole', flip=True)).save(osp.join(tmp, 'op.json'))
    video = osp.join(tmp, 'demo.avi')
    make_demo_video(demo_root, video, num_lesions=1)
    for name, config in cases:
        for flip in (False, True):
            kw = dict(
                pretrained=False,
                device='cpu',
                num_threads=args.threads,
                operating_point=op if flip else None)
            new = StreamInferencer(config, **kw)
            old = today.StreamInferencer(config, **kw)
            old.model = new.model  # same weights
            infs = dict(today=old, new=new)

            def work(inf):
                return lambda: [
                    inf.predict_probs(inf.collate([f])) for f in frames
                ]

            for inf in infs.values():
                work(inf)()  # build the backend, warm up
            t = interleaved({
                k: work(v)
                for k, v in infs.items()
            },
                            args.iters // 4 or 1,
                            warmup=0)
            ms = {k: median(v) / len(frames) * 1000 for k, v in t.items()}
            view = 'flip' if flip else 'whole'
            for k, v in ms.items():
                rows.append(
                    dict(
                        case=f'{name} {k} ({view})',
                        metric='model work/frame',
                        value=v,
                        unit='ms'))
            ratios.append(
                dict(
                    name=f'{name} {view}: today / new model work per frame '
                    '(median of per-round ratios)',
                    value=paired_ratio(t['today'], t['new']),
                    goal=1.0))
        if name.startswith('ViT-B'):
            continue  # the live run of ViT-B on a CPU core is far behind
        lat = {}
        for k in ('today', 'new', 'today ', 'new '):  # two runs each
            inf = (today.StreamInferencer
                   if k.strip() == 'today' else StreamInferencer)(
                       config,
                       pretrained=False,
                       device='cpu',
                       num_threads=args.threads)
            s = LiveSession(
                inf, FrameSource(video), pace=True,
                log=lambda line: None).run()
            lat.setdefault(k.strip(), []).append(s['latency_ms_p50'])
        for k, v in lat.items():
            rows.append(
                dict(
                    case=f'live 30 fps {name} {k}',
                    metric='latency p50 (median of 2 runs)',
                    value=median(v),
                    unit='ms'))
        ratios.append(
            dict(
                name=f'{name} live: today / new latency p50',
                value=median(lat['today']) / median(lat['new']),
                goal=1.0))


def bench_live(cases, demo_root, rows, threads, num_lesions):
    from ecdl_mm.live import FrameSource, LiveSession
    from ecdl_mm.live.demo_video import make_demo_video
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        video = osp.join(tmp, 'demo.avi')
        make_demo_video(demo_root, video, num_lesions=num_lesions)
        for name, config, backend in cases:
            inf = build(config, backend, threads)
            session = LiveSession(
                inf,
                FrameSource(video),
                pace=True,
                out_video=osp.join(tmp, 'out.mp4'),
                events=osp.join(tmp, 'events.jsonl'),
                log=lambda line: None)
            s = session.run()
            case = f'live 30 fps {name} {backend}'
            c = s['counts']
            rows += [
                dict(
                    case=case,
                    metric='latency p50',
                    value=s['latency_ms_p50'],
                    unit='ms'),
                dict(
                    case=case,
                    metric='latency p99',
                    value=s['latency_ms_p99'],
                    unit='ms'),
                dict(
                    case=case,
                    metric='output frames late',
                    value=s['late_frames'],
                    unit=f"of {c.get('read', 0)}"),
                dict(
                    case=case,
                    metric='diagnosed frames',
                    value=c.get('used', 0),
                    unit=f"of {c.get('read', 0)}"),
                dict(
                    case=case,
                    metric='output frames dropped',
                    value=c.get('read', 0) - c.get('written', 0),
                    unit=f"of {c.get('read', 0)}"),
                dict(
                    case=case,
                    metric='display path p50',
                    value=s['display_ms_p50'],
                    unit='ms'),
                dict(
                    case=case,
                    metric='display path p99',
                    value=s['display_ms_p99'],
                    unit='ms'),
            ]
            out[case] = s
    return out


def bench_gpu(rows, ratios, demo_root):
    """ViT-B/16 on CUDA through load_backend: eager fp32, cuda-graph fp32 /
    fp16 / bf16, batch 1; LesionInferencer per image at batch 1."""
    from ecdl_mm.apis import LesionInferencer
    from ecdl_mm.deploy import load_backend
    images = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images',
                                       '*')))[:16]
    inf = LesionInferencer(VIT_B, pretrained=False, device='cuda')
    inf(images[:2], batch_size=1, show_progress=False)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    inf(images, batch_size=1, show_progress=False)
    torch.cuda.synchronize()
    per_image = (time.perf_counter() - t0) / len(images) * 1000
    rows.append(
        dict(
            case='gpu LesionInferencer fp32 eager',
            metric='ms/image b1',
            value=per_image,
            unit='ms'))
    x = torch.randn(1, 3, 224, 224, device='cuda')
    for backend, precision in (('eager', 'fp32'), ('cuda-graph', 'fp32'),
                               ('cuda-graph', 'fp16'), ('cuda-graph', 'bf16')):
        fn = load_backend(inf.model, backend, x, 'cuda', precision)
        for _ in range(10):
            fn(x)
        torch.cuda.synchronize()
        n = 200
        t0 = time.perf_counter()
        for _ in range(n):
            fn(x)
        torch.cuda.synchronize()
        ms = (time.perf_counter() - t0) / n * 1000
        rows.append(
            dict(
                case=f'gpu ViT-B/16 {backend} {precision} b1',
                metric='ms/frame',
                value=ms,
                unit='ms'))
        ratios.append(
            dict(
                name=f'gpu {backend} {precision}: LesionInferencer fp32 '
                'ms/image / ms/frame',
                value=per_image / ms))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--demo-root', default=DEFAULT_DEMO_ROOT)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument(
        '--lesions',
        type=int,
        default=3,
        help='lesions of the synthetic video (87 frames '
        'each)')
    parser.add_argument('--skip-vit', action='store_true')
    parser.add_argument('--baseline-rev', default=BASELINE_REV)
    parser.add_argument(
        '--only-today-vs-new',
        action='store_true',
        help='only the today-vs-new comparison')
    args = parser.parse_args()
    import ecdl_mm  # noqa: F401
    rows, ratios, extra = [], [], {}
    images = stills(args.demo_root)
    models = [('demo ViT-tiny 64px', TINY)]
    if not args.skip_vit:
        models.append(('ViT-B/16 224px', VIT_B))
    bench_today_vs_new(models, images, args.demo_root, rows, ratios, args)
    if args.only_today_vs_new:
        print_table(rows, ratios)
        return
    extra['gate'] = bench_gate(images, rows)
    extra['model_fps'] = bench_models(models, images[0], rows, ratios,
                                      args.threads, args.iters)
    live = [('demo ViT-tiny 64px', TINY, 'eager')]
    if not args.skip_vit:
        live.append(('ViT-B/16 224px', VIT_B, 'torchscript-int8'))
    extra['live'] = bench_live(live, args.demo_root, rows, args.threads,
                               args.lesions)
    if torch.cuda.is_available():
        bench_gpu(rows, ratios, args.demo_root)
    else:
        print('no CUDA device: GPU figures skipped')
    print_table(rows, ratios)
    path = save_result(
        'bench_realtime', rows, ratios, config=vars(args), extra=extra)
    print(f'written {path}')


if __name__ == '__main__':
    main()

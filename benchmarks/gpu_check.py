# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Every GPU figure of issue 25 in one run: one JSON + one markdown table.

    python benchmarks/gpu_check.py --out OUT_DIR [--dry-run]

(``benchmarks/gpu_check.sh OUT_DIR`` checks the packages first and bounds
the run to 6 minutes, as issue 25 asks; a training benchmark stopped for
time keeps the cases it finished.) Sections, each ``today`` (the code as
committed at ``--baseline-rev``: eager fp32, CPU pre-processing) beside ``new``
(``cuda-graph`` fp16, pre-processing on the GPU, decoding threads; still
images decoded on the GPU, the default ``decode='auto'``, and on the CPU
beside it):

- ``live``: ``LiveSession`` on the synthetic demo video paced at 30 and at
  60 fps, ViT-B/16: frame read -> updated call p50 / p99, late output
  frames, ``model_ms_p50`` (goals: p50 <= 3 ms, p99 <= 6 ms, 0 late, model
  stage >= 5x today's);
- ``model``: ViT-B/16 alone at batch 1 through ``load_backend``: eager
  fp32, cuda-graph fp32 / fp16 / bf16, and timm's ViT-B/16 fp16 under a
  CUDA graph when timm is installed;
- ``lesion``: ``LesionInferencer`` from the demo JPEG files: images/s
  (goal >= 5x today's) and batch-1 latency per image (goal <= 5 ms);
- ``train``: ``benchmarks/bench_gpu_train.py --json`` (its own rows).

``--dry-run`` runs the same code on the CPU with the tiny demo model and a
short video, and writes every GPU-only row with ``skipped`` saying why (the
schema test, ``tests/test_inference/test_gpu_check.py``). Nothing is
installed; a missing optional package (timm) is named in one line.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

import _common  # noqa: F401  (puts the repo on sys.path)
import torch
from _baseline import BASELINE_REV, load_at
from _common import DEFAULT_DEMO_ROOT, REPO_ROOT, env_info, median

SCHEMA = 'ecdl_mm.gpu_check/1'
VIT_B = osp.join(REPO_ROOT, 'configs', 'ecdl',
                 'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py')
TINY = osp.join(REPO_ROOT, 'configs', 'ecdl',
                'ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py')
SHORT = (('no_contact', 2), ('contact', 12), ('withdraw', 4))
NO_GPU = 'needs a CUDA device (dry run / no GPU)'


class Report:
    """Rows ``section, case, metric, value, unit, skipped`` and ratios."""

    def __init__(self):
        self.rows, self.ratios = [], []
        self.errors, self.details = [], {}

    def error(self, section, case, err):
        """A case that raised: the row says so, the traceback is kept and
        the other cases go on."""
        import traceback
        text = ''.join(traceback.format_exception(err))
        print(f'gpu_check: {section} / {case} failed:\n{text}', flush=True)
        self.errors.append(dict(section=section, case=case, error=text))
        self.add(
            section,
            case,
            'error',
            None,
            skipped=f'{type(err).__name__}: {err}'[:300])

    def add(self, section, case, metric, value, unit='', skipped=None):
        self.rows.append(
            dict(
                section=section,
                case=case,
                metric=metric,
                value=None if value is None else float(value),
                unit=unit,
                skipped=skipped))

    def skip(self, section, case, metrics, reason):
        for m in metrics:
            self.add(section, case, m, None, skipped=reason)

    def ratio(self, name, num, den, goal=None, lower_is_better=False):
        value = None if not (num and den) else num / den
        met = None
        if value is not None and goal is not None:
            met = bool(value <= goal if lower_is_better else value >= goal)
        self.ratios.append(dict(name=name, value=value, goal=goal, met=met))

    def markdown(self) -> str:
        out = [
            '| section | case | metric | value | unit | note |',
            '|---|---|---|---|---|---|'
        ]
        for r in self.rows:
            v = '' if r['value'] is None else f"{r['value']:.4g}"
            out.append(f"| {r['section']} | {r['case']} | {r['metric']} | "
                       f"{v} | {r['unit']} | {r['skipped'] or ''} |")
        out += ['', '| ratio | value | goal | met |', '|---|---|---|---|']
        for r in self.ratios:
            v = '' if r['value'] is None else f"{r['value']:.3g}"
            out.append(f"| {r['name']} | {v} | {r['goal'] or ''} | "
                       f"{'' if r['met'] is None else r['met']} |")
        return '\n'.join(out) + '\n'


def stream_inferencers(args, cfg):
    """(name, factory) of today's and the new StreamInferencer."""
    from ecdl_mm.live import StreamInferencer
    today = load_at(args.baseline_rev, 'ecdl_mm/apis/stream_inferencer.py',
                    '_today_stream_inferencer')
    new_kw = dict(backend='cuda-graph', precision='fp16', preprocess='device')
    if args.dry_run:
        new_kw = dict(backend='eager', preprocess='pipeline')
    out = []
    if today is not None:
        out.append(('today', lambda: today.StreamInferencer(
            cfg, pretrained=False, device=args.device)))
    out.append(('new', lambda: StreamInferencer(
        cfg, pretrained=False, device=args.device, **new_kw)))
    return out


def bench_live(args, cfg, rep):
    from ecdl_mm.live import FrameSource, LiveSession
    from ecdl_mm.live.demo_video import make_demo_video
    metrics = ('latency p50', 'latency p99', 'late output frames',
               'model_ms_p50')
    with tempfile.TemporaryDirectory() as tmp:
        for fps in (30, 60):
            video = osp.join(tmp, f'demo{fps}.avi')
            kw = dict(phases=SHORT) if args.dry_run else {}
            make_demo_video(
                args.demo_root,
                video,
                num_lesions=1 if args.dry_run else 2,
                fps=fps,
                **kw)
            model_ms = {}
            for name, build in stream_inferencers(args, cfg):
                case = f'{fps} fps {name}'
                try:
                    s = LiveSession(
                        build(),
                        FrameSource(video),
                        pace=True,
                        log=lambda line: None).run()
                except Exception as err:  # noqa: BLE001 (next case runs)
                    rep.error('live', case, err)
                    continue
                if s.get('status') != 'end' or not s['counts'].get('used'):
                    # the session caught a model or source failure and
                    # returned what it had: not figures of a whole run
                    rep.details[f'live {case}'] = s
                    rep.error(
                        'live', case,
                        RuntimeError(f"session ended with status "
                                     f"{s.get('status')!r} "
                                     f"({s.get('reason')}), "
                                     f"counts {s.get('counts')}, "
                                     f"faults {s.get('faults')}"))
                    continue
                rep.details[f'live {case}'] = s
                rep.add('live', case, metrics[0], s['latency_ms_p50'], 'ms')
                rep.add('live', case, metrics[1], s['latency_ms_p99'], 'ms')
                rep.add('live', case, metrics[2], s['late_frames'],
                        f"of {s['counts'].get('read', 0)}")
                rep.add('live', case, metrics[3], s['model_ms_p50'], 'ms')
                if s.get('gate_ms_p50') is not None:
                    rep.add('live', case, 'gate_ms_p50', s['gate_ms_p50'],
                            'ms')
                model_ms[name] = s['model_ms_p50']
                if name == 'new':
                    goal = None if args.dry_run else 3.0
                    rep.ratio(
                        f'live {fps} fps new p50 ms',
                        s['latency_ms_p50'],
                        1.0,
                        goal,
                        lower_is_better=True)
                    rep.ratio(
                        f'live {fps} fps new p99 ms',
                        s['latency_ms_p99'],
                        1.0,
                        None if args.dry_run else 6.0,
                        lower_is_better=True)
            rep.ratio(f'live {fps} fps model stage today / new',
                      model_ms.get('today'), model_ms.get('new'),
                      None if args.dry_run else 5.0)


def _time(fn, x, n):
    for _ in range(3):
        fn(x)
    if x.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn(x)
    if x.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n * 1000


def bench_model(args, cfg, rep):
    from ecdl_mm.deploy import load_backend
    from ecdl_mm.live import StreamInferencer
    inf = StreamInferencer(cfg, pretrained=False, device=args.device)
    x = torch.randn(1, 3, *inf.input_size, device=args.device)
    n = 20 if args.dry_run else 300
    eager = None
    for backend, precision in (('eager', 'fp32'), ('cuda-graph', 'fp32'),
                               ('cuda-graph', 'fp16'), ('cuda-graph', 'bf16')):
        case = f'ours {backend} {precision}'
        if args.dry_run and backend != 'eager':
            rep.skip('model', case, ['ms/frame b1'], NO_GPU)
            continue
        try:
            fn = load_backend(inf.model, backend, x, args.device, precision)
            ms = _time(fn, x, n)
        except Exception as err:  # noqa: BLE001 (next case runs)
            rep.error('model', case, err)
            continue
        rep.add('model', case, 'ms/frame b1', ms, 'ms')
        if backend == 'eager':
            eager = ms
        else:
            rep.add('model', case, 'max |prob diff| vs fp32', fn.check_diff)
            rep.ratio(f'model eager fp32 / {backend} {precision}', eager, ms,
                      5.0 if precision == 'fp16' else None)
    try:
        import timm
    except ImportError:
        print('gpu_check: timm is not installed: the timm ViT-B/16 row is '
              'skipped (pip install timm to get it)')
        rep.skip('model', 'timm ViT-B/16 cuda-graph fp16', ['ms/frame b1'],
                 'timm not installed')
        return
    if args.dry_run:
        rep.skip('model', 'timm ViT-B/16 cuda-graph fp16', ['ms/frame b1'],
                 NO_GPU)
        return
    from ecdl_mm.deploy.cuda_graph import CudaGraphRunner
    net = timm.create_model(
        'vit_base_patch16_224', pretrained=False, num_classes=3).eval()
    try:
        runner = CudaGraphRunner(net, torch.float16, torch.device(args.device))
        with torch.inference_mode():
            ms = _time(runner, torch.randn(1, 3, 224, 224, device=args.device),
                       n)
    except Exception as err:  # noqa: BLE001
        rep.error('model', 'timm ViT-B/16 cuda-graph fp16', err)
        return
    rep.add('model', 'timm ViT-B/16 cuda-graph fp16', 'ms/frame b1', ms, 'ms')
    ours = [
        r['value'] for r in rep.rows
        if r['case'] == 'ours cuda-graph fp16' and r['metric'] == 'ms/frame b1'
    ]
    rep.ratio('model timm fp16 / ours fp16 ms (>= 0.9 wanted)', ms,
              ours[0] if ours else None, 0.9)


def bench_lesion(args, cfg, rep):
    from ecdl_mm.apis import LesionInferencer
    today = load_at(args.baseline_rev, 'ecdl_mm/apis/lesion_inferencer.py',
                    '_today_lesion_inferencer')
    images = sorted(
        glob.glob(osp.join(args.demo_root, '*', '*', 'Images', '*.jpg')))
    if args.dry_run:
        images = images[:8]
    new_kw = dict(
        backend='cuda-graph',
        precision='fp16',
        preprocess='device',
        num_workers=min(8,
                        os.cpu_count() or 1))
    if args.dry_run:
        new_kw = dict(num_workers=1)
    infs = {}
    try:
        infs['new'] = LesionInferencer(
            cfg, False, device=args.device, **new_kw)
    except Exception as err:  # noqa: BLE001
        rep.error('lesion', 'new', err)
    if not args.dry_run:  # the default decodes on the GPU: CPU beside it
        try:
            infs['new, decode on CPU'] = LesionInferencer(
                cfg, False, device=args.device, decode='cpu', **new_kw)
            infs['new, decode on CPU'].model = infs['new'].model
        except Exception as err:  # noqa: BLE001
            rep.error('lesion', 'new, decode on CPU', err)
    if today is not None:
        try:
            infs['today'] = today.LesionInferencer(
                cfg, False, device=args.device)
            if 'new' in infs:
                infs['today'].model = infs['new'].model
        except Exception as err:  # noqa: BLE001
            rep.error('lesion', 'today', err)
    ips, b1 = {}, {}
    batch = 8 if args.dry_run else 64
    for name, inf in infs.items():
        try:
            ips[name], b1[name] = _lesion_rates(args, inf, images, batch)
        except Exception as err:  # noqa: BLE001
            rep.error('lesion', name, err)
            continue
        rep.add('lesion', name, f'img/s (files -> lesions, batch {batch})',
                ips[name], 'img/s')
        rep.add('lesion', name, 'batch-1 latency', b1[name], 'ms/image')
    rep.ratio('lesion img/s new / today', ips.get('new'), ips.get('today'),
              None if args.dry_run else 5.0)
    rep.ratio('lesion img/s new, decode on CPU / today',
              ips.get('new, decode on CPU'), ips.get('today'),
              None if args.dry_run else 5.0)
    rep.ratio(
        'lesion new batch-1 ms/image',
        b1.get('new'),
        1.0,
        None if args.dry_run else 5.0,
        lower_is_better=True)
    rep.ratio(
        'lesion new, decode on CPU batch-1 ms/image',
        b1.get('new, decode on CPU'),
        1.0,
        None,
        lower_is_better=True)


def _lesion_rates(args, inf, images, batch):
    """(images/s at ``batch``, batch-1 ms per image) of one inferencer."""
    # warm up: the batch shapes of the timed runs (graphs captured)
    inf(images, batch_size=batch, show_progress=False)
    inf(images[:1], batch_size=1, show_progress=False)
    times, lat = [], []
    for _ in range(1 if args.dry_run else 3):
        t0 = time.perf_counter()
        inf(images, batch_size=batch, show_progress=False)
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    for path in images[:8]:
        t0 = time.perf_counter()
        inf([path], batch_size=1, show_progress=False)
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        lat.append(time.perf_counter() - t0)
    return len(images) / median(times), median(lat) * 1000


def bench_train(args, rep, left_s):
    if args.dry_run:
        rep.skip('train', 'bench_gpu_train.py', ['img/s'], NO_GPU)
        return
    out = osp.join(args.out, 'train.json')
    workers = max(1, min(12, (os.cpu_count() or 2) - 2))
    cmd = [
        sys.executable,
        osp.join(REPO_ROOT, 'benchmarks', 'bench_gpu_train.py'), '--quick',
        '--steps', '40', '--workers',
        str(workers), '--out', out
    ]
    timeout = max(10, min(args.train_timeout, int(left_s)))
    log = osp.join(args.out, 'train.log')
    if osp.exists(out):
        os.remove(out)  # an earlier run's record is not this run's
    try:
        with open(log, 'w') as f:
            proc = subprocess.run(
                cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        rep.skip('train', 'bench_gpu_train.py', ['img/s'],
                 f'timed out after {timeout} s (gpu_check budget)')
        if osp.isfile(out):  # the cases that finished (no step rates)
            with open(out) as f:
                doc = json.load(f)
            if doc.get('partial'):
                rep.details['train'] = doc
                add_train_rows(rep, doc)
        return
    if proc.returncode != 0 or not osp.isfile(out):
        with open(log) as f:
            tail = f.read().strip().splitlines()[-30:]
        print('\n'.join(tail), flush=True)
        rep.skip('train', 'bench_gpu_train.py', ['img/s'],
                 f"exit {proc.returncode}: {(tail or ['no output'])[-1]}")
        return
    with open(out) as f:
        doc = json.load(f)
    rep.details['train'] = doc
    add_train_rows(rep, doc)


def add_train_rows(rep: Report, doc: dict) -> None:
    """Rows and ratios of ``bench_gpu_train.py --out``'s record."""
    metrics = (('img_per_s', 'step img/s',
                'img/s'), ('e2e_img_per_s', 'end-to-end img/s',
                           'img/s'), ('e2e_vs_step', 'end to end / step', ''),
               ('loader_img_per_s', 'data path alone img/s', 'img/s'),
               ('loader_img_per_s_per_worker', 'data path per worker',
                'img/s'), ('peak_gib', 'peak memory', 'GiB'),
               ('mean_data_time_s', 'mean data time', 's/iter'))
    for r in doc.get('rows', []):
        if r.get('error'):  # the case raised; the others ran
            rep.add(
                'train',
                str(r.get('case')),
                'error',
                None,
                skipped=str(r['error'])[:300])
            rep.errors.append(
                dict(section='train', case=r.get('case'), error=r['error']))
        for key, metric, unit in metrics:
            if r.get(key) is not None:
                rep.add('train', str(r.get('case')), metric, r[key], unit)
        if r.get('e2e_vs_step') is not None:
            rep.ratio(f"train {r['case']} end to end / step", r['e2e_vs_step'],
                      1.0, 0.9)
    goals = dict(stage2_mmpretrain_mae=1.0, stage3_timm_vit=0.9)
    for r in doc.get('ratios', []):
        theirs = r['name'].split('/')[1].strip().split(' ')[0]
        goal = 0.9 if 'end to end' in r['name'] else goals.get(theirs)
        on_gpu = ('stage2_ecmae_gpu_decode/', 'stage3_clustering_gpu_augment/')
        if r['name'].startswith(on_gpu):
            goal = None  # the decode's cost on the GPU, for the record
        rep.ratio(f"train {r.get('name')}", r.get('value'), 1.0, goal)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='CPU, tiny model, short video: the schema, not the figures')
    parser.add_argument('--demo-root', default=DEFAULT_DEMO_ROOT)
    parser.add_argument('--baseline-rev', default=BASELINE_REV)
    parser.add_argument(
        '--train-timeout',
        type=int,
        default=300,
        help='seconds for bench_gpu_train.py, at most what is left of '
        '--budget')
    parser.add_argument(
        '--budget',
        type=int,
        default=340,
        help='seconds for the whole check (gpu_check.sh stops it at 360)')
    parser.add_argument(
        '--only', nargs='*', default=['live', 'model', 'lesion', 'train'])
    args = parser.parse_args(argv)
    args.device = 'cpu' if args.dry_run else 'cuda'
    if not args.dry_run and not torch.cuda.is_available():
        print(
            'gpu_check: error: no CUDA device (use --dry-run on a CPU)',
            file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    import ecdl_mm  # noqa: F401
    from ecdl_mm.utils import set_inference_threads
    if args.dry_run:
        set_inference_threads(1)
    cfg = TINY if args.dry_run else VIT_B
    rep = Report()
    t0 = time.perf_counter()
    for section, fn in (
        ('model', lambda: bench_model(args, cfg, rep)),
        ('live', lambda: bench_live(args, cfg, rep)),
        ('lesion', lambda: bench_lesion(args, cfg, rep)),
        ('train', lambda: bench_train(args, rep, args.budget -
                                      (time.perf_counter() - t0)))):
        if section in args.only:
            t1 = time.perf_counter()
            try:
                fn()
            except Exception as err:  # noqa: BLE001 (the others still run)
                rep.error(section, 'section', err)
            print(
                f'gpu_check: {section} done in '
                f'{time.perf_counter() - t1:.1f} s',
                flush=True)
            write(args, cfg, rep, t0)  # what is measured so far survives
    doc = write(args, cfg, rep, t0)
    print(rep.markdown())
    print(f"gpu_check: wrote {osp.join(args.out, 'gpu_check.json')} and "
          f"gpu_check.md in {doc['config']['seconds']} s")
    return 1 if rep.errors else 0


def write(args, cfg, rep, t0) -> dict:
    """``gpu_check.json`` and ``gpu_check.md`` of what is measured so far."""
    doc = dict(
        schema=SCHEMA,
        env=env_info(),
        config=dict(
            vars(args),
            model=osp.relpath(cfg, REPO_ROOT),
            seconds=round(time.perf_counter() - t0, 1)),
        rows=rep.rows,
        ratios=rep.ratios,
        errors=rep.errors,
        details=rep.details)
    with open(osp.join(args.out, 'gpu_check.json'), 'w') as f:
        json.dump(doc, f, indent=2, default=str)
    with open(osp.join(args.out, 'gpu_check.md'), 'w') as f:
        f.write(f"# gpu_check ({doc['env'].get('cuda') or 'CPU dry run'}, "
                f"torch {doc['env']['torch']})\n\n" + rep.markdown())
    return doc


if __name__ == '__main__':
    sys.exit(main())

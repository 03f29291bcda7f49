# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Helpers shared by the ``benchmarks/bench_*.py`` scripts.

Every benchmark measures the cases it compares side by side in one run
(interleaved rounds, medians), prints a small table with the ratios and
writes ``benchmarks/results/<name>.json`` with this layout, which
``benchmarks/run_all.py`` collects into one table::

    {"benchmark": name, "env": {...}, "config": {...},
     "rows": [{"case": ..., "metric": ..., "value": ..., "unit": ...}, ...],
     "ratios": [{"name": ..., "value": ..., "goal": ..., "higher_is": ...}]}

Other benchmarks may write any JSON there; ``run_all.py`` then lists its
numeric leaves.
"""
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

BENCH_DIR = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(BENCH_DIR)
RESULTS_DIR = osp.join(BENCH_DIR, 'results')

if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from ecdl_mm.utils.demo_data import default_demo_root  # noqa: E402

DEFAULT_DEMO_ROOT = default_demo_root(REPO_ROOT)


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def env_info() -> dict:
    """Versions and machine facts worth keeping beside a figure."""
    import torch
    info = dict(
        python=platform.python_version(),
        torch=torch.__version__,
        cpu=cpu_name(),
        cpu_count=len(os.sched_getaffinity(0)),
        torch_threads=torch.get_num_threads(),
        cuda=torch.cuda.get_device_name(0)
        if torch.cuda.is_available() else None,
        load_avg_1min=os.getloadavg()[0],
        time=time.strftime('%Y-%m-%d %H:%M:%S'),
    )
    return info


def interleaved(
    cases: Dict[str, Callable[[], object]],
    rounds: int,
    warmup: int = 1,
    cpu_times: Optional[Dict[str,
                             List[float]]] = None) -> Dict[str, List[float]]:
    """Time each case once per round, cases alternating within a round.

    Alternating spreads the noise of a shared machine over every case, so
    ratios of medians stay meaningful when absolute figures drift.

    Args:
        cpu_times (dict, optional): Filled with each call's CPU seconds of
            this process too (``time.process_time``: what the call costs a
            core, steady when other jobs share the machine).

    Returns:
        dict: seconds per call of each case, one entry per round.
    """
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times = {name: [] for name in cases}
    if cpu_times is not None:
        cpu_times.update({name: [] for name in cases})
    for r in range(rounds):
        order = list(cases.items())
        if r % 2:
            order.reverse()
        for name, fn in order:
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
            if cpu_times is not None:
                cpu_times[name].append(time.process_time() - c0)
    return times


def median(values: List[float]) -> float:
    return statistics.median(values)


def save_result(name: str,
                rows: List[dict],
                ratios: Optional[List[dict]] = None,
                config: Optional[dict] = None,
                extra: Optional[dict] = None,
                path: Optional[str] = None) -> str:
    """Write ``benchmarks/results/<name>.json`` (or ``path``) and return
    its path."""
    payload = dict(
        benchmark=name,
        env=env_info(),
        config=config or {},
        rows=rows,
        ratios=ratios or [])
    if extra:
        payload.update(extra)
    path = path or osp.join(RESULTS_DIR, f'{name}.json')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(payload, f, indent=2)
    return path


def print_table(rows: List[dict], ratios: Optional[List[dict]] = None):
    """Print rows as ``case | metric | value unit`` and the ratios."""
    width = max([len(str(r['case'])) for r in rows] + [4])
    mwidth = max([len(str(r['metric'])) for r in rows] + [6])
    for r in rows:
        value = r['value']
        text = f'{value:.4g}' if isinstance(value, float) else str(value)
        print(f"  {r['case']:<{width}} | {r['metric']:<{mwidth}} | "
              f"{text} {r.get('unit', '')}")
    for ratio in ratios or []:
        goal = ratio.get('goal')
        verdict = ''
        if goal is not None:
            ok = ratio['value'] >= goal if ratio.get(
                'higher_is', 'better') == 'better' else ratio['value'] <= goal
            verdict = f"  (goal {'>=' if ratio.get('higher_is', 'better') == 'better' else '<='} {goal}: {'met' if ok else 'NOT met'})"  # noqa: E501
        print(f"  ratio {ratio['name']}: {ratio['value']:.3g}{verdict}")


def full_decode_pipeline(pipeline: List[dict]) -> List[dict]:
    """The same pipeline with ``LoadResizedImage`` replaced by a
    full-resolution ``LoadImageFromFile`` (plus the ``ResizeEdge`` it
    performed, if ``resize=True``): the reference of fast loading."""
    import copy
    pipeline = copy.deepcopy(list(pipeline))
    first = pipeline[0]
    if first['type'] != 'LoadResizedImage':
        return pipeline
    steps = [dict(type='LoadImageFromFile')]
    if first.get('resize', True):
        steps.append(
            dict(
                type='ResizeEdge',
                scale=first['scale'],
                edge=first.get('edge', 'short'),
                interpolation=first.get('interpolation', 'bilinear'),
                backend=first.get('backend', 'cv2')))
    return steps + pipeline[1:]


#: ecdl_mm's transforms with mmpretrain's pixels and draws -> mmpretrain's.
MMPRETRAIN_TYPES = {
    'RandAugmentLUT': 'RandAugment',
    'RandomErasingFast': 'RandomErasing'
}


def full_decode_train_pipeline(pipeline: List[dict]) -> List[dict]:
    """The same training pipeline with ``LoadRandomResizedCrop`` expanded
    into mmpretrain's ``LoadImageFromFile -> RandomResizedCrop`` (the same
    crop arguments; ``backend='torch'``, Pillow's filter, as ``'pillow'``)
    and ``RandAugmentLUT`` / ``RandomErasingFast`` as mmpretrain's
    ``RandAugment`` / ``RandomErasing`` (the same pixels): the pipeline as it
    was before ecdl_mm's fast loading."""
    import copy
    pipeline = copy.deepcopy(list(pipeline))
    for i, step in enumerate(pipeline):
        if step['type'] in MMPRETRAIN_TYPES:
            pipeline[i] = dict(step, type=MMPRETRAIN_TYPES[step['type']])
    first = dict(pipeline[0])
    if first['type'] != 'LoadRandomResizedCrop':
        return pipeline
    first.pop('type')
    first.pop('min_ratio', None)
    first.pop('decoder', None)
    load = dict(type='LoadImageFromFile')
    for key in ('to_float32', 'color_type', 'imdecode_backend', 'ignore_empty',
                'backend_args'):
        if key in first:
            load[key] = first.pop(key)
    if first.get('backend') == 'torch':
        first['backend'] = 'pillow'
    return [load, dict(type='RandomResizedCrop', **first)] + pipeline[1:]

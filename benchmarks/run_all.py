# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Run every ``benchmarks/bench_*.py`` and collect their JSON into one table.

Each script runs in its own process (sequentially: they time the machine);
a failing script is reported and the others still run. Afterwards every JSON
in ``benchmarks/results/`` written during this run is read: the ``ratios``
and ``rows`` of the common layout (see ``_common.py``), or the numeric leaves
of any other layout. The table is printed and written as
``benchmarks/results/summary.md`` (Markdown, ready for the README) and
``summary.json``.

    python benchmarks/run_all.py [--only data_pipeline machine] [--timeout 300]

``bench_clustering_learning.py`` (a learning comparison, ~15 min) and
``bench_gpu_train.py`` (needs a GPU and its configs as arguments) run only
when named: ``--only clustering_learning --timeout 1800``; run the GPU one
by itself (see its docstring).
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

BENCH_DIR = osp.dirname(osp.abspath(__file__))
RESULTS_DIR = osp.join(BENCH_DIR, 'results')

# Not CPU timings (a learning comparison longer than --timeout; a GPU run
# that needs its configs): run only when named in --only.
ON_REQUEST = ('bench_clustering_learning.py', 'bench_gpu_train.py')

_BOOKKEEPING = {'threads', 'repeats', 'n_timings', 'rounds', 'seed'}


def _leaves(obj, prefix=''):
    """Numeric leaves of a JSON object as ``(dotted.key, value)``."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ('env', 'config'):
                continue
            yield from _leaves(v, f'{prefix}{k}.')
    elif isinstance(obj, list):
        if len(obj) > 3 and all(isinstance(v, (int, float)) for v in obj):
            return  # raw samples: their summary is printed beside them
        for i, v in enumerate(obj):
            yield from _leaves(v, f'{prefix}{i}.')
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield prefix.rstrip('.'), obj


def summarise(path):
    """Rows ``(benchmark, what, value)`` of one result file."""
    with open(path) as f:
        data = json.load(f)
    name = data.get('benchmark') if isinstance(data, dict) else None
    name = name or osp.splitext(osp.basename(path))[0]
    rows = []
    if isinstance(data, dict) and ('ratios' in data or 'rows' in data):
        for r in data.get('ratios', []):
            goal = r.get('goal')
            what = f"ratio {r['name']}"
            if goal is not None:
                what += f" (goal {'>=' if r.get('higher_is', 'better') == 'better' else '<='} {goal})"  # noqa: E501
            rows.append((name, what, r['value'], ''))
        for r in data.get('rows', []):
            rows.append((name, f"{r['case']}: {r['metric']}", r['value'],
                         r.get('unit', '')))
    else:
        leaves = [(k, v) for k, v in _leaves(data)
                  if k.rsplit('.', 1)[-1] not in _BOOKKEEPING]
        # ratios first: they are what the table is for
        leaves.sort(key=lambda kv: 'ratio' not in kv[0])
        rows = [(name, k, v, '') for k, v in leaves]
    return rows


def fmt(value):
    if isinstance(value, float):
        return f'{value:.3g}'
    return str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--only', nargs='+', help='benchmark names (bench_<name>.py)')
    parser.add_argument(
        '--timeout', type=int, default=420, help='seconds per benchmark')
    parser.add_argument(
        '--collect-only',
        action='store_true',
        help='only collect the JSON already in benchmarks/results')
    args = parser.parse_args()

    scripts = sorted(glob.glob(osp.join(BENCH_DIR, 'bench_*.py')))
    if args.only:
        wanted = {
            f'bench_{n}.py' if not n.startswith('bench_') else n
            for n in args.only
        }
        scripts = [s for s in scripts if osp.basename(s) in wanted]
    else:
        scripts = [s for s in scripts if osp.basename(s) not in ON_REQUEST]
    os.makedirs(RESULTS_DIR, exist_ok=True)
    start = time.time()
    status = {}
    if not args.collect_only:
        for script in scripts:
            name = osp.basename(script)
            print(f'==> {name}', flush=True)
            t0 = time.time()
            try:
                proc = subprocess.run([sys.executable, script],
                                      cwd=osp.dirname(BENCH_DIR),
                                      timeout=args.timeout)
                status[name] = 'ok' if proc.returncode == 0 else \
                    f'failed (exit {proc.returncode})'
            except subprocess.TimeoutExpired:
                status[name] = f'timed out after {args.timeout} s'
            print(
                f'<== {name}: {status[name]} in {time.time() - t0:.0f} s',
                flush=True)

    files = sorted(glob.glob(osp.join(RESULTS_DIR, '*.json')))
    files = [
        f for f in files if osp.basename(f) != 'summary.json' and (
            args.collect_only or osp.getmtime(f) >= start - 1)
    ]
    table = []
    for f in files:
        try:
            table.extend(summarise(f))
        except (ValueError, KeyError, TypeError) as e:
            table.append((osp.basename(f), f'unreadable: {e}', '', ''))

    lines = ['| benchmark | measure | value |', '|---|---|---|']
    lines += [
        f'| {b} | {w} | {fmt(v)}{(" " + u) if u else ""} |'
        for b, w, v, u in table
    ]
    text = '\n'.join(lines)
    print('\n' + text)
    if status:
        print('\nscripts: ' + ', '.join(f'{k} {v}' for k, v in status.items()))
    print(f'total {time.time() - start:.0f} s')
    with open(osp.join(RESULTS_DIR, 'summary.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(RESULTS_DIR, 'summary.json'), 'w') as f:
        json.dump(
            dict(
                status=status,
                seconds=time.time() - start,
                rows=[
                    dict(benchmark=b, measure=w, value=v, unit=u)
                    for b, w, v, u in table
                ]),
            f,
            indent=2)
    return 0 if all(v == 'ok' for v in status.values()) else 1


if __name__ == '__main__':
    sys.exit(main())

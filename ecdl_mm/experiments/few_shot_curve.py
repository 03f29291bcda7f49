# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Few-shot learning curves: k labelled lesions per class of a new cohort,
several seeds, several adaptation methods (configs), tested on the rest of
the cohort.

The library side of ``tools/analysis/fewshot_curve.py``. Each run (method,
k, seed) trains in ``<work_dir>/<method>/k<k>_seed<seed>`` and records
``result.json``; a finished run is skipped when the curve is run again.
"""
import json
import os
import os.path as osp
from collections import Counter
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner
from scipy import stats

from ..datasets import ECNBIDataset
from ..utils.provenance import collect_provenance
from .model_benchmark import config_name, finish_config

DEFAULT_SHOTS = (1, 2, 4, 8, 16)
METRICS = ('lesion/auc_macro', 'lesion/accuracy')


def _few_shot_datasets(cfg: Config) -> List[ConfigDict]:
    out = []
    for key in ('train_dataloader', 'test_dataloader'):
        ds = cfg[key].dataset
        if ds.get('type') != 'FewShotECNBIDataset':
            raise ValueError(f'{key}.dataset of a few-shot config must be a '
                             f'FewShotECNBIDataset, got {ds.get("type")!r}')
        out.append(ds)
    return out


def _ecvit_cfg(backbone: ConfigDict) -> ConfigDict:
    """The ECViT config inside a backbone (itself, or LoRAModel's module)."""
    return backbone.module if backbone.get('type') == 'LoRAModel' \
        else backbone


def run_config(config: str,
               shots: int,
               seed: int,
               work_dir: str,
               cohort: Optional[dict] = None,
               pretrained: Optional[str] = None,
               cfg_options: Optional[dict] = None) -> Config:
    """The config of one run: the support / query subsets of ``shots`` and
    ``seed`` (training seed too), the cohort and the source checkpoint.

    Args:
        config (str): A few-shot config (``configs/fewshot``).
        shots (int): Lesions per class.
        seed (int): Seed of the k-shot draw and of training.
        work_dir (str): The run's folder.
        cohort (dict, optional): ``data_root`` / ``ann_file`` /
            ``sheet_name`` of the new cohort, set on both subsets.
        pretrained (str, optional): The source model checkpoint; its
            ``backbone.*`` initialise the ECViT.
        cfg_options (dict, optional): Overrides merged last.
    """
    cfg = Config.fromfile(config)
    for ds in _few_shot_datasets(cfg):
        ds.shots = shots
        ds.seed = seed
        for k, v in (cohort or {}).items():
            if v is not None:
                ds[k] = v
    if pretrained is not None:
        _ecvit_cfg(cfg.model.backbone).init_cfg = dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = osp.abspath(work_dir)
    cfg.experiment_name = f'{config_name(config)}_k{shots}_seed{seed}'
    cfg.resume = False
    cfg.load_from = None
    return finish_config(cfg, cfg_options)


def cohort_lesions_per_class(cfg: Config) -> Dict[str, int]:
    """Lesions of each class in the cohort of a few-shot config."""
    ds = dict(_few_shot_datasets(cfg)[0])
    for key in ('type', 'shots', 'seed', 'subset', 'pipeline'):
        ds.pop(key, None)
    ds.update(check_images=False, pipeline=[])
    dataset = ECNBIDataset(**ds)
    classes = dataset.metainfo['classes']
    counts = Counter()
    seen = set()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if info['lesion_id'] not in seen:
            seen.add(info['lesion_id'])
            counts[classes[info['gt_label']]] += 1
    return {c: counts[c] for c in classes}


def train_and_test_run(cfg: Config) -> Dict[str, float]:
    """Train on the support set, test the last weights on the query set."""
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    return {
        k: float(v)
        for k, v in metrics.items() if isinstance(v, (int, float))
    }


def t_interval(values: Sequence[float], level: float = 0.95):
    """Mean and Student-t interval over seeds (NaN bounds for one seed;
    NaN values, e.g. an AUC without positives, are left out)."""
    v = np.asarray([x for x in values if x == x], dtype=float)
    if len(v) == 0:
        return float('nan'), float('nan'), float('nan')
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float('nan'), float('nan')
    half = float(
        stats.t.ppf(0.5 + level / 2,
                    len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half


def _metric(run: dict, key: str) -> float:
    """A run's metric; NaN when missing or undefined (None in the JSON)."""
    value = run['metrics'].get(key)
    return np.nan if value is None else value


def summarise(runs: Sequence[dict], level: float = 0.95) -> List[dict]:
    """One row per method, k and metric: mean over seeds with the t
    interval, and the mean of the runs' own lesion-bootstrap intervals."""
    groups = {}
    for r in runs:
        groups.setdefault((r['method'], r['shots']), []).append(r)
    order = list(dict.fromkeys(r['method'] for r in runs))
    rows = []
    for (method, shots), rs in sorted(
            groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        for m in METRICS:
            mean, lo, hi = t_interval([_metric(r, m) for r in rs], level)
            boot_lo = [_metric(r, f'{m}_ci_lower') for r in rs]
            boot_hi = [_metric(r, f'{m}_ci_upper') for r in rs]
            rows.append(
                dict(
                    method=method,
                    shots=shots,
                    metric=m,
                    mean=mean,
                    ci_lower=lo,
                    ci_upper=hi,
                    seeds=len(rs),
                    mean_bootstrap_ci_lower=float(np.nanmean(boot_lo))
                    if not np.all(np.isnan(boot_lo)) else float('nan'),
                    mean_bootstrap_ci_upper=float(np.nanmean(boot_hi))
                    if not np.all(np.isnan(boot_hi)) else float('nan'),
                    query_lesions=float(
                        np.mean([_metric(r, 'lesion/num_lesions')
                                 for r in rs]))))
    return rows


def markdown_table(summary: Sequence[dict], level: float = 0.95) -> str:
    """Methods x k, one table per metric: mean [t interval] over seeds."""
    shots = sorted({r['shots'] for r in summary})
    methods = list(dict.fromkeys(r['method'] for r in summary))
    cells = {(r['method'], r['shots'], r['metric']): r for r in summary}
    lines = []
    for m in METRICS:
        lines += [
            f'\n{m} (mean over seeds [{level:.0%} t-interval])\n',
            '| method | ' + ' | '.join(f'k={k}' for k in shots) + ' |',
            '|---|' + '---|' * len(shots)
        ]
        for method in methods:
            row = []
            for k in shots:
                r = cells.get((method, k, m))
                row.append('-' if r is
                           None else f'{r["mean"]:.3f} [{r["ci_lower"]:.3f}, '
                           f'{r["ci_upper"]:.3f}]')
            lines.append(f'| {method} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines).strip() + '\n'


def plot_curves(summary: Sequence[dict], path: str, level: float = 0.95):
    """Metric against k (log 2 axis), a line and interval band per
    method."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401
    fig, axes = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 4))
    for ax, m in zip(np.atleast_1d(axes), METRICS):
        for method in dict.fromkeys(r['method'] for r in summary):
            rs = sorted((r for r in summary
                         if r['method'] == method and r['metric'] == m),
                        key=lambda r: r['shots'])
            k = [r['shots'] for r in rs]
            ax.plot(k, [r['mean'] for r in rs], marker='o', label=method)
            ax.fill_between(
                k, [r['ci_lower'] for r in rs], [r['ci_upper'] for r in rs],
                alpha=0.2)
        ax.set_xscale('log', base=2)
        ax.set_xticks(sorted({r['shots'] for r in summary}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        # t-intervals of 2-3 seeds can pass the metric's range
        ax.set_ylim(0, 1.02)
        ax.set_xlabel('labelled lesions per class (k)')
        ax.set_ylabel(m)
        ax.set_title(f'{m} ({level:.0%} t-interval over seeds)')
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_fewshot_curve(configs: Sequence[str],
                      work_dir: str,
                      shots: Sequence[int] = DEFAULT_SHOTS,
                      seeds: Sequence[int] = (0, 1, 2),
                      cohort: Optional[dict] = None,
                      pretrained: Optional[str] = None,
                      cfg_options: Optional[dict] = None,
                      log: Callable[[str], None] = print) -> dict:
    """Every method config at every k and seed; the table, JSON and plot.

    A k for which a class has no lesion left for the query set (k >= its
    lesions) is skipped and listed under ``skipped``. Writes
    ``fewshot_curve.json``, ``fewshot_curve.csv``, ``fewshot_curve.md`` and
    ``fewshot_curve.png`` to ``work_dir``.

    Args:
        configs (Sequence[str]): Few-shot configs, one per method (their
            names are the method names).
        work_dir (str): The output folder.
        shots (Sequence[int]): The k values. Defaults to 1, 2, 4, 8, 16.
        seeds (Sequence[int]): Seeds. Defaults to 0, 1, 2.
        cohort (dict, optional): ``data_root`` / ``ann_file`` /
            ``sheet_name`` of the new cohort. Defaults to the configs'.
        pretrained (str, optional): The source checkpoint for every method.
        cfg_options (dict, optional): Overrides for every run.
        log (Callable): Progress messages. Defaults to print.

    Returns:
        dict: ``runs``, ``summary`` (see :func:`summarise`), ``skipped``,
        ``lesions_per_class``.
    """
    from ..utils.io import jsonable, save_csv, save_json
    if not configs:
        raise ValueError('no few-shot config given')
    names = [config_name(c) for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f'config names {names} must be unique')
    os.makedirs(work_dir, exist_ok=True)
    # every method's config (and its --cfg-options) checked before any run
    first = [
        run_config(c, 1, 0, work_dir, cohort, pretrained, cfg_options)
        for c in configs
    ]
    counts = cohort_lesions_per_class(first[0])
    usable = [k for k in shots if k < min(counts.values())]
    skipped = [
        dict(shots=k, reason=f'a class has <= {k} lesions: {counts}')
        for k in shots if k not in usable
    ]
    for s in skipped:
        log(f'k={s["shots"]} skipped: {s["reason"]}')
    runs = []
    for config, name in zip(configs, names):
        for k in usable:
            for seed in seeds:
                run_dir = osp.join(work_dir, name, f'k{k}_seed{seed}')
                result = osp.join(run_dir, 'result.json')
                if osp.isfile(result):
                    with open(result) as f:
                        runs.append(json.load(f))
                    log(f'[{name} k={k} seed={seed}] done before, skipped')
                    continue
                log(f'[{name} k={k} seed={seed}] training')
                cfg = run_config(config, k, seed, run_dir, cohort, pretrained,
                                 cfg_options)
                # strict JSON (undefined rates as None), the same in
                # memory as when read back by a later run
                record = jsonable(
                    dict(
                        method=name,
                        config=osp.abspath(config),
                        shots=k,
                        seed=seed,
                        metrics=train_and_test_run(cfg)))
                os.makedirs(run_dir, exist_ok=True)
                with open(result + '.tmp', 'w') as f:
                    json.dump(record, f, indent=2, allow_nan=False)
                os.replace(result + '.tmp', result)
                runs.append(record)
    summary = summarise(runs)
    out = dict(
        runs=runs,
        summary=summary,
        skipped=skipped,
        lesions_per_class=counts,
        shots=list(usable),
        seeds=list(seeds),
        provenance=collect_provenance(
            checkpoint=pretrained,
            data_root=(cohort or {}).get('data_root'),
            inputs={
                f'config_{i}': c
                for i, c in enumerate(configs)
            }))
    save_json(out, osp.join(work_dir, 'fewshot_curve.json'))
    save_csv(summary, osp.join(work_dir, 'fewshot_curve.csv'))
    with open(osp.join(work_dir, 'fewshot_curve.md'), 'w') as f:
        f.write(markdown_table(summary))
    if summary:
        plot_curves(summary, osp.join(work_dir, 'fewshot_curve.png'))
    log(markdown_table(summary))
    log(f'wrote fewshot_curve.json, .csv, .md, .png to {work_dir}')
    return out

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Train and test several configs on the same lesion splits, then compare
them paired (the EC-DL model against every baseline).

The library side of ``tools/analysis/benchmark_models.py``. Each config gets
its own folder ``<work_dir>/<name>``; a finished one holds ``done.json`` and
is skipped on the next run, a partial one resumes from its last checkpoint
(mmengine's ``resume``), so a killed benchmark is simply started again.
"""
import glob
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence

from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner

from ..evaluation.clinical import (StudyDataError, align_predictions,
                                   compare_models, load_lesion_predictions,
                                   save_csv, save_json)
from ..evaluation.report import (auc_difference_figure,
                                 build_comparison_report, figure_png)
from ..utils.cfg_options import merge_cfg_options
from ..utils.config_walk import inner_dataset, lesion_metrics
from ..utils.provenance import collect_provenance
from ..utils.work_dir import resolve_work_dir

DONE = 'done.json'
SPLITS = ('train', 'val', 'test')


def config_name(path: str) -> str:
    """The name of a config: its file name without ``.py``."""
    return osp.splitext(osp.basename(path))[0]


def _set_split(loader: ConfigDict, data_root: str, ann_file: str, sheet: str,
               others: Sequence[str]) -> None:
    # wrappers (e.g. ClassBalancedDataset) hold the ECNBIDataset inside
    ds = inner_dataset(loader.dataset)
    ds.data_root = data_root
    ds.ann_file = ann_file
    ds.sheet_name = sheet
    ds.disjoint_with = list(others)


def prepare_config(config: str,
                   splits: str,
                   work_dir: str,
                   sheets: Sequence[Optional[str]] = SPLITS,
                   data_root: Optional[str] = None,
                   cfg_options: Optional[dict] = None) -> Config:
    """The config of one benchmark arm, on the shared splits.

    Args:
        config (str): A config file.
        splits (str): The split workbook (``make_splits.py`` output).
        work_dir (str): This arm's folder.
        sheets (Sequence[str | None]): The train, val and test sheet names;
            val may be None (no validation: the last epoch is tested).
            Defaults to ``('train', 'val', 'test')``.
        data_root (str, optional): The cohort's root. Defaults to the
            folder of ``splits``.
        cfg_options (dict, optional): Overrides merged last.

    Returns:
        Config: With data roots, sheets (pairwise disjoint), work dir,
        ``resume=True`` and the test ``LesionMetric`` writing to
        ``<work_dir>/lesion_eval``.
    """
    if len(sheets) != 3 or sheets[0] is None or sheets[2] is None:
        raise ValueError(f'sheets={list(sheets)} must be (train, val, test) '
                         'sheet names; only val may be None')
    if not osp.isfile(splits):
        raise FileNotFoundError(f'split workbook {splits} does not exist')
    splits = osp.abspath(splits)
    data_root = osp.abspath(data_root or osp.dirname(splits))
    cfg = Config.fromfile(config)
    train, val, test = sheets
    used = [s for s in sheets if s is not None]
    _set_split(cfg.train_dataloader, data_root, splits, train,
               [s for s in used if s != train])
    _set_split(cfg.test_dataloader, data_root, splits, test,
               [s for s in used if s != test])
    if val is None:
        cfg.val_dataloader = None
        cfg.val_evaluator = None
        cfg.val_cfg = None
        ckpt = cfg.get('default_hooks', {}).get('checkpoint')
        if ckpt is not None:
            ckpt.pop('save_best', None)
    else:
        if cfg.get('val_dataloader') is None:
            raise ValueError(f'{config} has no val_dataloader to put the '
                             f'val sheet {val!r} in')
        _set_split(cfg.val_dataloader, data_root, splits, val,
                   [s for s in used if s != val])
    lesion = lesion_metrics(cfg)
    if not lesion:
        raise ValueError(f'{config} has no LesionMetric in test_evaluator')
    lesion[0].out_dir = osp.join(osp.abspath(work_dir), 'lesion_eval')
    cfg.work_dir = osp.abspath(work_dir)
    cfg.experiment_name = config_name(config)
    cfg.resume = True
    cfg.load_from = None
    return finish_config(cfg, cfg_options)


def finish_config(cfg, cfg_options=None):
    """The last steps of an experiment's config: ``cfg_options`` checked
    and merged (:func:`~ecdl_mm.utils.merge_cfg_options`, as every tool
    does), ``{work_dir}`` resolved, LesionMetric's values logged as its own
    table (not a 3,000-character line)."""
    from ..engine.runner.log_processor import summarise_metric_logs
    merge_cfg_options(cfg, cfg_options)
    resolve_work_dir(cfg)
    summarise_metric_logs(cfg)
    return cfg


def selected_checkpoint(work_dir: str) -> str:
    """The checkpoint to test: the best on val if one was saved, else the
    last one."""
    best = sorted(
        glob.glob(osp.join(work_dir, 'best_*.pth')), key=osp.getmtime)
    if best:
        return best[-1]
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
    raise FileNotFoundError(f'no checkpoint in {work_dir} to test')


def train_and_test(cfg: Config) -> dict:
    """Train (resuming from the work dir's last checkpoint, if any), then
    test the selected checkpoint with a fresh runner.

    Returns:
        dict: The test metrics, the checkpoint and the lesion predictions
        file.
    """
    from ..engine.hooks import CheckpointFitHook
    from ..utils import check_config
    check_config(cfg, phase='train')
    runner = Runner.from_cfg(cfg)
    runner.train()
    del runner
    checkpoint = selected_checkpoint(cfg.work_dir)
    test_cfg = cfg.copy()
    test_cfg.resume = False
    test_cfg.load_from = checkpoint
    test_cfg.experiment_name = f'{cfg.experiment_name}_test'
    runner = Runner.from_cfg(test_cfg)
    runner.register_hook(CheckpointFitHook())
    metrics = runner.test()
    predictions = osp.join(cfg.work_dir, 'lesion_eval',
                           'lesion_predictions.csv')
    if not osp.isfile(predictions):
        raise FileNotFoundError(f'testing wrote no {predictions}')
    return dict(
        metrics={
            k: float(v)
            for k, v in metrics.items() if isinstance(v, (int, float))
        },
        checkpoint=checkpoint,
        predictions=predictions)


def write_comparison(preds,
                     names: Sequence[str],
                     out_dir: str,
                     bootstrap_rounds: int = 2000,
                     seed: int = 0,
                     ci_level: float = 0.95,
                     exact_below: int = 25,
                     title: str = 'Paired model comparison',
                     inputs: Optional[Dict[str, str]] = None) -> dict:
    """:func:`compare_models` and its files (``tools/analysis/
    compare_models.py`` and :func:`run_benchmark` write them here):
    comparison.json, comparison.csv, model_metrics.csv, auc_differences.png,
    report.html.

    ``inputs`` (name to predictions file) are recorded with their hashes and
    their own provenance under ``provenance`` in the JSON and the report.
    """
    results = compare_models(preds, names, bootstrap_rounds, seed, ci_level,
                             exact_below)
    if inputs is not None:
        results['provenance'] = collect_provenance(inputs=inputs)
    preds = align_predictions(preds, names)
    os.makedirs(out_dir, exist_ok=True)
    save_json(results, osp.join(out_dir, 'comparison.json'))
    save_csv(results['comparisons'], osp.join(out_dir, 'comparison.csv'))
    save_csv(results['model_metrics'], osp.join(out_dir, 'model_metrics.csv'))
    with open(osp.join(out_dir, 'auc_differences.png'), 'wb') as f:
        f.write(figure_png(auc_difference_figure(results)))
    report = build_comparison_report(results, preds, title)
    if inputs is not None:
        report.set_provenance(results['provenance'])
    report.save(osp.join(out_dir, 'report.html'))
    return results


def run_benchmark(configs: Sequence[str],
                  splits: str,
                  work_dir: str,
                  sheets: Sequence[Optional[str]] = SPLITS,
                  data_root: Optional[str] = None,
                  cfg_options: Optional[dict] = None,
                  bootstrap_rounds: int = 2000,
                  seed: int = 0,
                  log: Callable[[str], None] = print) -> Dict[str, object]:
    """Train and test every config on the same splits, then compare.

    The first config is the reference (the EC-DL model); every pair is
    compared (``compare_models``: DeLong for the AUCs, McNemar for the
    rates, paired lesion-bootstrap intervals), and the report goes to
    ``<work_dir>/comparison``. Finished configs (``done.json``) are skipped;
    a partial one resumes from its last checkpoint.

    Args:
        configs (Sequence[str]): Two or more config files (unique names).
        splits (str): The split workbook.
        work_dir (str): The benchmark folder.
        sheets (Sequence[str | None]): Train, val, test sheet names (val may
            be None). Defaults to ``('train', 'val', 'test')``.
        data_root (str, optional): The cohort root. Defaults to the folder
            of ``splits``.
        cfg_options (dict, optional): Overrides for every config.
        bootstrap_rounds (int): Comparison bootstrap rounds.
            Defaults to 2000.
        seed (int): Comparison bootstrap seed. Defaults to 0.
        log (Callable): Progress messages. Defaults to print.

    Returns:
        dict: ``arms`` (name to its done record) and ``comparison`` (the
        output of :func:`compare_models`).
    """
    if len(configs) < 2:
        raise StudyDataError(f'benchmark needs >= 2 configs, got '
                             f'{len(configs)}')
    names = [config_name(c) for c in configs]
    if len(set(names)) != len(names):
        raise StudyDataError(f'config names {names} must be unique')
    for c in configs:
        if not osp.isfile(c):
            raise FileNotFoundError(f'config {c} does not exist')
    # every arm's config (and its --cfg-options) checked before any trains
    cfgs = [
        prepare_config(config, splits, osp.join(work_dir, name), sheets,
                       data_root, cfg_options)
        for config, name in zip(configs, names)
    ]
    os.makedirs(work_dir, exist_ok=True)
    arms = {}
    for config, name, cfg in zip(configs, names, cfgs):
        arm_dir = osp.join(work_dir, name)
        done = osp.join(arm_dir, DONE)
        if osp.isfile(done):
            with open(done) as f:
                arms[name] = json.load(f)
            log(f'[{name}] finished before, skipped')
            continue
        partial = osp.isfile(osp.join(arm_dir, 'last_checkpoint'))
        log(f'[{name}] ' + ('resuming' if partial else 'training'))
        record = train_and_test(cfg)
        record.update(config=osp.abspath(config), resumed=partial)
        # written last and atomically: a kill before it reruns the arm
        tmp = done + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(record, f, indent=2)
        os.replace(tmp, done)
        arms[name] = record
    preds = [load_lesion_predictions(arms[n]['predictions']) for n in names]
    out = osp.join(work_dir, 'comparison')
    results = write_comparison(
        preds,
        names,
        out,
        bootstrap_rounds,
        seed,
        title=f'{names[0]} against {len(names) - 1} baseline(s)',
        inputs={n: arms[n]['predictions']
                for n in names})
    log(f'wrote the comparison of {len(names)} models on '
        f'{results["num_lesions"]} lesions to {out}')
    return dict(arms=arms, comparison=results)


__all__: List[str] = [
    'prepare_config', 'run_benchmark', 'selected_checkpoint', 'train_and_test',
    'write_comparison'
]

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Walking configs: the one place that finds a config's lesion metrics and
the dataset inside dataset wrappers.

An evaluator may be one metric dict, a list of them, or
``dict(type='Evaluator', metrics=[...])``; a dataset may sit inside any
number of wrappers (``ClassBalancedDataset``, ``RepeatDataset``, ...), each
holding the next one under ``dataset``. Every tool and library module that
needs either asks here.
"""
from typing import List


def evaluator_metrics(evaluator) -> List[dict]:
    """The metric dicts of an evaluator config, in order (the dicts
    themselves: changing one changes the config)."""
    if evaluator is None:
        return []
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        evaluator = evaluator['metrics']
    metrics = evaluator if isinstance(evaluator,
                                      (list, tuple)) else [evaluator]
    return [m for m in metrics if isinstance(m, dict)]


def is_type(cfg: dict, name: str) -> bool:
    """Whether ``cfg['type']`` names ``name`` (a string with or without a
    scope or module prefix, or the class itself)."""
    kind = cfg.get('type', '')
    kind = getattr(kind, '__name__', kind)
    return str(kind).split('.')[-1] == name


def lesion_metrics(cfg, key: str = 'test_evaluator') -> List[dict]:
    """Every ``LesionMetric`` dict of ``cfg[key]`` (see
    :func:`evaluator_metrics`)."""
    return [
        m for m in evaluator_metrics(cfg.get(key))
        if is_type(m, 'LesionMetric')
    ]


def inner_dataset(dataset_cfg):
    """The dataset config inside any dataset wrappers: the first dict on
    the ``dataset`` chain that has no ``dataset`` key of its own (the
    config's own dict: changing it changes the config)."""
    ds = dataset_cfg
    while isinstance(ds, dict) and isinstance(ds.get('dataset'), dict):
        ds = ds['dataset']
    return ds

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Confidence intervals of :class:`~.lesion_metric.LesionMetric`.

Functions taking the metric first; the metric binds them as its methods
(``_add_proportion_intervals``, ``_add_intervals``, ``_macro_interval``,
``_image_cases``, ``_insert_intervals``) and they call each other through
it, so a subclass that overrides one is still honoured.
"""
from collections import OrderedDict

import numpy as np

from .. import functional as F
from ..functional import RATES
from .lesion_keys import PER_CLASS, PROPORTIONS

__all__ = [
    'add_proportion_intervals', 'image_cases', 'insert_intervals',
    'add_bootstrap_intervals', 'macro_interval'
]


def add_proportion_intervals(metric, metrics, levels, cms, inverse,
                             classes) -> None:
    """Wilson (lesion) and cluster-adjusted Wilson (image) intervals
    and the ``k/n`` of every proportion."""
    counts = OrderedDict()
    intervals = {}
    for level, (s, p, t) in levels.items():
        fr = F.rate_fractions(cms[level])
        for name in PROPORTIONS:
            k_all, n_all = fr[name]
            for k in ([None] if name == 'accuracy' else range(len(classes))):
                key = (f'{level}/{name}'
                       if k is None else f'{level}/{name}_{classes[k]}')
                kk = float(k_all if k is None else k_all[k])
                nn = float(n_all if k is None else n_all[k])
                entry = dict(k=int(kk), n=int(nn))
                if level == 'lesion':
                    lo, hi = F.proportion_interval(kk, nn, metric.ci_level)
                    entry['interval'] = 'wilson'
                else:
                    succ, counted = metric._image_cases(name, k, p, t)
                    ci = F.clustered_proportion_interval(
                        succ, counted, inverse, metric.ci_level)
                    lo, hi = ci['ci_lower'], ci['ci_upper']
                    entry.update(
                        interval='cluster-wilson',
                        deff=ci['deff'],
                        n_eff=ci['n_eff'])
                intervals[key] = (lo, hi)
                counts[key] = entry
    metric.extras['counts'] = counts
    metric._insert_intervals(metrics, intervals)


def image_cases(name, k, pred, target):
    """Success and denominator indicators of one rate, per image."""
    if name == 'accuracy':
        return pred == target, np.ones(len(target), bool)
    if name == 'sensitivity':
        return pred == k, target == k
    if name == 'specificity':
        return pred != k, target != k
    if name == 'ppv':
        return target == k, pred == k
    return target != k, pred != k  # npv


def insert_intervals(metrics, intervals) -> None:
    """Put each interval right after its metric, in the logs and
    metrics.json."""
    ordered = list(metrics.items())
    metrics.clear()
    for key, val in ordered:
        metrics[key] = val
        if key in intervals:
            metrics[f'{key}_ci_lower'], metrics[f'{key}_ci_upper'] = \
                intervals[key]


def add_bootstrap_intervals(metric, metrics, levels, inverse, classes) -> None:
    """Lesion-bootstrap intervals of AUCs, F1 and macro means.

    Both levels on the same resamples of lesions, an image weighted by its
    lesion's multiplicity (:func:`.functional.bootstrap_distribution`).
    """
    num_l = int(inverse.max()) + 1
    chunk = max(1, 2_000_000 // max(len(inverse) * len(classes), 1))

    def statistic(mult):
        out = OrderedDict()
        for level, (s, p, t) in levels.items():
            w = mult[:, inverse] if level == 'image' else mult
            rates = metric.bootstrap_stats(s, p, t, w)
            out[(level, 'auc_micro')] = rates['auc_micro']
            for name in PER_CLASS:
                vals = rates[name]
                if name in ('f1', 'auc'):
                    for k, cls in enumerate(classes):
                        out[(level, f'{name}_{cls}')] = vals[:, k]
                # a class undefined in a resample is left out of its mean
                out[(level, f'{name}_macro')] = F.resampled_mean(
                    vals, missing='skip')
        return out

    dist = F.bootstrap_distribution(statistic, num_l, metric.bootstrap_rounds,
                                    metric.seed, chunk)
    intervals, notes = {}, OrderedDict()
    for (level, key), ci in F.bootstrap_intervals(dist,
                                                  metric.ci_level).items():
        name = key[:-len('_macro')]
        if key.endswith('_macro') and name in RATES:
            ci = metric._macro_interval(metrics, level, name, ci, classes,
                                        notes)
        intervals[f'{level}/{key}'] = ci
    if notes:
        metric.extras['interval_notes'] = notes
    metric._insert_intervals(metrics, intervals)


def macro_interval(metric, metrics, level, name, boot, classes, notes):
    """A macro rate's interval that never collapses silently
    (:func:`ecdl_mm.evaluation.functional.macro_interval`)."""
    keys = [f'{level}/{name}_{cls}' for cls in classes]
    counts = metric.extras['counts']
    out = F.macro_interval(
        boot, [(metrics[f'{k}_ci_lower'], metrics[f'{k}_ci_upper'])
               for k in keys],
        [(counts[k]['k'], counts[k]['n']) for k in keys])
    if out['note']:
        notes[f'{level}/{name}_macro'] = out['note']
    return out['ci_lower'], out['ci_upper']

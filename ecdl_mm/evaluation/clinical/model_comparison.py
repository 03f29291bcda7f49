# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Paired lesion-level comparison of models evaluated on the same lesions."""
import itertools
from collections import OrderedDict
from typing import Dict, List, Sequence

import numpy as np

from ..functional import (bootstrap_distribution, confusion_matrix,
                          confusion_rates, nanmean_or_nan, one_vs_rest_auc,
                          percentile_interval, proportion_interval,
                          resampled_mean, weighted_auc)
from ..stats import holm_adjust, mcnemar_test, paired_auc_tests, weighted_rates
from .predictions import LesionPredictions, align_predictions


def metric_names(classes: Sequence[str]) -> List[str]:
    """Metrics compared: accuracy, per-class sensitivity, specificity and
    one-vs-rest AUC, macro AUC."""
    return (['accuracy'] + [f'sensitivity_{c}' for c in classes] +
            [f'specificity_{c}'
             for c in classes] + [f'auc_{c}' for c in classes] + ['auc_macro'])


def point_metrics(p: LesionPredictions) -> 'OrderedDict[str, float]':
    """Accuracy, per-class sensitivity / specificity / AUC and macro AUC
    (NaN where a class has no positives or no negatives)."""
    num_c = len(p.classes)
    rates = confusion_rates(confusion_matrix(p.pred, p.target, num_c))
    aucs = one_vs_rest_auc(p.scores, p.target, num_c)
    out = OrderedDict(accuracy=float(rates['accuracy']))
    for k, c in enumerate(p.classes):
        out[f'sensitivity_{c}'] = float(rates['sensitivity'][k])
        out[f'specificity_{c}'] = float(rates['specificity'][k])
    for k, c in enumerate(p.classes):
        out[f'auc_{c}'] = float(aucs[k])
    out['auc_macro'] = float(nanmean_or_nan(aucs))
    return out


def bootstrap_metrics(preds: Sequence[LesionPredictions], rounds: int,
                      seed: int) -> List[Dict[str, np.ndarray]]:
    """Every metric of :func:`metric_names` for each model on the same
    lesion-bootstrap resamples (paired).

    Returns:
        list: Per model, metric name to ``(rounds, )`` values; NaN where a
        resample has no positives (negatives) of a class.
    """
    ref = preds[0]
    num_c = len(ref.classes)
    onehot = np.eye(num_c, dtype=bool)[ref.target]
    defined = [0 < onehot[:, k].sum() < len(ref.target) for k in range(num_c)]

    def statistic(w):
        out = OrderedDict()
        for i, p in enumerate(preds):
            rates = weighted_rates(p.pred, p.target, w, num_c)
            out[(i, 'accuracy')] = rates['accuracy']
            aucs = np.stack([
                weighted_auc(p.scores[:, k], onehot[:, k], w)
                for k in range(num_c)
            ],
                            axis=1)
            for k, c in enumerate(p.classes):
                out[(i, f'sensitivity_{c}')] = rates['sensitivity'][:, k]
                out[(i, f'specificity_{c}')] = rates['specificity'][:, k]
                out[(i, f'auc_{c}')] = aucs[:, k]
            # the macro AUC of a resample averages the classes defined on
            # the full sample; a resample missing one of them is left out
            out[(i, 'auc_macro')] = resampled_mean(
                aucs, defined, missing='nan')
        return out

    dist = bootstrap_distribution(statistic, len(ref.target), rounds, seed)
    boots = [{} for _ in preds]
    for (i, key), values in dist.items():
        boots[i][key] = values
    return boots


def compare_models(preds: Sequence[LesionPredictions],
                   names: Sequence[str],
                   bootstrap_rounds: int = 2000,
                   seed: int = 0,
                   ci_level: float = 0.95,
                   exact_below: int = 25) -> Dict[str, object]:
    """Paired comparison of every pair of models on the same lesions.

    AUCs (per class one-vs-rest and macro) are compared with DeLong's test;
    accuracy and per-class sensitivity and specificity with McNemar's test
    (exact binomial below ``exact_below`` discordant lesions). Every value
    and every difference gets a paired lesion-bootstrap percentile
    interval; each model's rates get Wilson intervals (with ``k``, ``n``),
    its AUCs the lesion bootstrap. Differences are ``model_a - model_b``,
    ``a`` the earlier of the pair in ``preds``. ``p_value`` is each test's
    own; ``p_holm`` is Holm-adjusted over each pair's family of tests.

    Args:
        preds (Sequence[LesionPredictions]): Two or more models.
        names (Sequence[str]): Their display names (unique).
        bootstrap_rounds (int): Lesion-bootstrap resamples.
            Defaults to 2000.
        seed (int): Bootstrap seed. Defaults to 0.
        ci_level (float): Interval level. Defaults to 0.95.
        exact_below (int): McNemar exact-test threshold. Defaults to 25.

    Returns:
        dict: JSON-ready: ``classes``, ``models`` (name, path),
        ``num_lesions``, ``class_counts``, ``settings``, ``model_metrics``
        (one row per model and metric) and ``comparisons`` (one row per pair
        and metric; ``p_holm`` is ``p_value`` adjusted by Holm over the
        pair's tests of every metric).
    """
    if len(preds) < 2:
        raise ValueError(f'compare_models needs >= 2 models, got '
                         f'{len(preds)}')
    if len(names) != len(preds) or len(set(names)) != len(names):
        raise ValueError(f'names={list(names)!r} must be {len(preds)} '
                         'unique names')
    if bootstrap_rounds < 1:
        raise ValueError(f'bootstrap_rounds={bootstrap_rounds!r} must be '
                         '>= 1')
    preds = align_predictions(preds, names)
    ref = preds[0]
    classes = ref.classes
    metrics = metric_names(classes)
    points = [point_metrics(p) for p in preds]
    boots = bootstrap_metrics(preds, bootstrap_rounds, seed)

    model_rows = []
    for name, p, pt, bt in zip(names, preds, points, boots):
        for m in metrics:
            row = OrderedDict(model=name, metric=m, value=pt[m])
            if m.startswith('auc_'):
                lo, hi = percentile_interval(bt[m], ci_level)
                row.update(ci_lower=lo, ci_upper=hi, interval='bootstrap')
            else:
                # a proportion of independent lesions: Wilson, with k/n
                cases, right, _ = paired_outcomes(m, classes, ref.target,
                                                  p.pred, p.pred)
                k, n = int(right[cases].sum()), int(cases.sum())
                lo, hi = proportion_interval(k, n, ci_level)
                row.update(
                    ci_lower=lo, ci_upper=hi, interval='Wilson', k=k, n=n)
            model_rows.append(row)

    comparisons = []
    num_c = len(classes)
    for ia, ib in itertools.combinations(range(len(preds)), 2):
        pa, pb = preds[ia], preds[ib]
        delong = paired_auc_tests(ref.target, pa.scores, pb.scores, num_c,
                                  ci_level)
        for m in metrics:
            lo, hi = percentile_interval(boots[ia][m] - boots[ib][m], ci_level)
            row = OrderedDict(
                model_a=names[ia],
                model_b=names[ib],
                metric=m,
                value_a=points[ia][m],
                value_b=points[ib][m],
                difference=points[ia][m] - points[ib][m],
                ci_lower=lo,
                ci_upper=hi)
            if m.startswith('auc_'):
                key = ('macro' if m == 'auc_macro' else str(
                    classes.index(m[len('auc_'):])))
                d = delong[key]
                row.update(
                    test='DeLong',
                    statistic=d['z'],
                    p_value=d['p_value'],
                    delong_se=d['se'],
                    delong_ci_lower=d['ci_lower'],
                    delong_ci_upper=d['ci_upper'])
            else:
                cases, ca, cb = paired_outcomes(m, classes, ref.target,
                                                pa.pred, pb.pred)
                mc = mcnemar_test(ca[cases], cb[cases], exact_below)
                row.update(
                    test=f'McNemar {mc["method"]}',
                    statistic=mc['statistic'],
                    p_value=mc['p_value'],
                    n=mc['n'],
                    a_only=mc['a_only'],
                    b_only=mc['b_only'])
            comparisons.append(row)
        # Holm over the family of this pair's tests (every metric).
        family = comparisons[-len(metrics):]
        for row, p in zip(family, holm_adjust([r['p_value'] for r in family])):
            row['p_holm'] = float(p)

    return OrderedDict(
        classes=list(classes),
        models=[dict(name=n, path=p.path) for n, p in zip(names, preds)],
        num_lesions=len(ref.lesion_ids),
        class_counts={
            c: int((ref.target == k).sum())
            for k, c in enumerate(classes)
        },
        settings=dict(
            bootstrap_rounds=bootstrap_rounds,
            seed=seed,
            ci_level=ci_level,
            mcnemar_exact_below=exact_below),
        model_metrics=model_rows,
        comparisons=comparisons)


def paired_outcomes(metric: str, classes: Sequence[str], target: np.ndarray,
                    pred_a: np.ndarray, pred_b: np.ndarray):
    """The cases a rate is computed on and whether A and B are right.

    Args:
        metric (str): ``accuracy``, ``sensitivity_<class>`` or
            ``specificity_<class>``.
        classes (Sequence[str]): Class names.
        target (np.ndarray): True classes ``(N, )``.
        pred_a (np.ndarray): Predictions of A ``(N, )``.
        pred_b (np.ndarray): Predictions of B ``(N, )``.

    Returns:
        tuple: Bool ``(N, )`` arrays: the cases of the rate (all, the
        positives or the negatives of the class), A right, B right.
    """
    if metric == 'accuracy':
        return (np.ones(len(target),
                        dtype=bool), pred_a == target, pred_b == target)
    kind, cls = metric.split('_', 1)
    k = list(classes).index(cls)
    if kind == 'sensitivity':
        return target == k, pred_a == k, pred_b == k
    return target != k, pred_a != k, pred_b != k

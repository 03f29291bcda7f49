# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Paired tests of proportions, Wilson intervals and the lesion bootstrap."""
from typing import Dict, Tuple

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

# the lesion bootstrap and its intervals live in the evaluation core
from ..functional import (bootstrap_multiplicities, confusion_matrix,
                          confusion_rates, percentile_interval,
                          proportion_interval)

# bootstrap_multiplicities and percentile_interval keep their old import path
__all__ = [
    'mcnemar_test', 'wilson_interval', 'weighted_rates', 'holm_adjust',
    'bootstrap_multiplicities', 'percentile_interval'
]


def mcnemar_test(correct_a: np.ndarray,
                 correct_b: np.ndarray,
                 exact_below: int = 25) -> Dict[str, object]:
    """McNemar's test of paired binary outcomes (statsmodels).

    The exact binomial test is used when the discordant pairs are fewer
    than ``exact_below``, else the chi-square test with continuity
    correction.

    Args:
        correct_a (np.ndarray): Bool ``(N, )``, e.g. model A right.
        correct_b (np.ndarray): Bool ``(N, )`` on the same cases.
        exact_below (int): Threshold on the discordant pairs.
            Defaults to 25.

    Returns:
        dict: ``n`` cases, ``both``, ``a_only`` (A right, B wrong),
        ``b_only``, ``neither``, ``method`` (``'exact'`` or ``'chi2'``),
        ``statistic`` (the smaller discordant count for the exact test,
        the chi-square value otherwise) and ``p_value`` (two-sided).
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f'paired outcomes of different shapes {a.shape} '
                         f'and {b.shape}')
    table = np.array([[np.sum(a & b), np.sum(a & ~b)],
                      [np.sum(~a & b), np.sum(~a & ~b)]])
    discordant = int(table[0, 1] + table[1, 0])
    exact = discordant < exact_below
    res = mcnemar(table, exact=exact, correction=True)
    return dict(
        n=int(len(a)),
        both=int(table[0, 0]),
        a_only=int(table[0, 1]),
        b_only=int(table[1, 0]),
        neither=int(table[1, 1]),
        method='exact' if exact else 'chi2',
        statistic=float(res.statistic),
        p_value=float(res.pvalue))


def wilson_interval(successes: int,
                    total: int,
                    ci_level: float = 0.95) -> Tuple[float, float]:
    """Wilson score interval of a proportion (statsmodels); NaN if
    ``total == 0``. See :func:`ecdl_mm.evaluation.functional.
    proportion_interval`."""
    return proportion_interval(successes, total, ci_level, 'wilson')


def weighted_rates(pred: np.ndarray, target: np.ndarray, weights: np.ndarray,
                   num_classes: int) -> Dict[str, np.ndarray]:
    """Accuracy and per-class sensitivity / specificity under weightings.

    A rate whose denominator is zero in a round is NaN (the package's
    convention, :mod:`ecdl_mm.evaluation.functional`), so bootstrap
    intervals leave such rounds out.

    Args:
        pred (np.ndarray): Predicted classes ``(N, )``.
        target (np.ndarray): True classes ``(N, )``.
        weights (np.ndarray): ``(R, N)`` multiplicities.
        num_classes (int): ``C``.

    Returns:
        dict: ``accuracy (R, )``, ``sensitivity (R, C)``,
        ``specificity (R, C)``.
    """
    rates = confusion_rates(
        confusion_matrix(pred, target, num_classes, weights))
    return dict(
        accuracy=rates['accuracy'],
        sensitivity=rates['sensitivity'],
        specificity=rates['specificity'])


def holm_adjust(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (statsmodels'
    ``multipletests(method='holm')``); NaN p-values (tests that could not be
    run) stay NaN and do not count in the family.

    Args:
        p_values (Sequence[float]): The family's p-values.

    Returns:
        np.ndarray: Adjusted p-values, same order; reject at level alpha
        where ``adjusted <= alpha`` (family-wise error rate alpha).
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method='holm')[1]
    return out

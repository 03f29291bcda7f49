# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Proportion intervals (Wilson, cluster-adjusted) and the interval of a
macro mean (the lesion bootstrap itself is :mod:`.bootstrap`).

Part of :mod:`ecdl_mm.evaluation.functional` (conventions there)."""
from typing import Dict, Sequence, Tuple

import numpy as np

# the bootstrap's old place (the engine is .bootstrap)
from .bootstrap import bootstrap_multiplicities, percentile_interval  # noqa


# ------------------------------------------------------------- intervals
def proportion_interval(successes: float,
                        total: float,
                        ci_level: float = 0.95,
                        method: str = 'wilson') -> Tuple[float, float]:
    """Interval of a proportion of independent units (statsmodels'
    ``proportion_confint``; ``'wilson'`` or ``'beta'`` = Clopper-Pearson);
    NaN if ``total == 0``."""
    from statsmodels.stats.proportion import proportion_confint
    if total <= 0:
        return float('nan'), float('nan')
    lo, hi = proportion_confint(
        successes, total, alpha=1 - ci_level, method=method)
    return float(lo), float(hi)


def design_effect(successes: np.ndarray, counted: np.ndarray,
                  clusters: np.ndarray) -> Tuple[float, int]:
    """Design effect of a proportion of images clustered in lesions.

    ``p = K / N`` over the images where ``counted``; with per-lesion sums
    ``k_j``, ``n_j`` the variance of the ratio estimator is
    ``sum_j (k_j - p n_j)^2 / N^2`` and the design effect is that over the
    binomial ``p (1 - p) / N``, at least 1. Each lesion holding one image
    gives exactly 1. When ``p`` is 0 or 1 the data say nothing of the
    correlation, and the conservative ``N / L`` (images per lesion: the
    images of a lesion count as one) is used.

    Returns:
        tuple: ``(deff, L)``, ``L`` the number of lesions with a counted
        image.
    """
    counted = np.asarray(counted, bool)
    succ = np.asarray(successes, bool) & counted
    clusters = np.asarray(clusters, np.int64)
    n_j = np.bincount(clusters, weights=counted.astype(float))
    k_j = np.bincount(clusters, weights=succ.astype(float), minlength=len(n_j))
    keep = n_j > 0
    n_j, k_j = n_j[keep], k_j[keep]
    big_n, num_l = n_j.sum(), int(keep.sum())
    if big_n == 0:
        return float('nan'), 0
    p = k_j.sum() / big_n
    if p * (1 - p) == 0:
        return float(big_n / num_l), num_l
    deff = ((k_j - p * n_j)**2).sum() / (big_n * p * (1 - p))
    return float(max(deff, 1.0)), num_l


def clustered_proportion_interval(successes: np.ndarray,
                                  counted: np.ndarray,
                                  clusters: np.ndarray,
                                  ci_level: float = 0.95) -> Dict[str, float]:
    """Cluster-adjusted Wilson interval of a proportion of images.

    Wilson's interval on the effective sample ``n_eff = N / deff`` with
    ``k_eff = p n_eff`` (:func:`design_effect`): it never has zero width on
    a finite sample, unlike a percentile bootstrap at 0 or 1, and it widens
    with the correlation of the images of one lesion.

    Args:
        successes (np.ndarray): Bool ``(N, )``, e.g. image correctly called.
        counted (np.ndarray): Bool ``(N, )``, images in the denominator.
        clusters (np.ndarray): Lesion index of every image ``(N, )``.
        ci_level (float): Defaults to 0.95.

    Returns:
        dict: ``k``, ``n`` (image counts), ``value``, ``ci_lower``,
        ``ci_upper``, ``deff``, ``n_eff``, ``lesions``.
    """
    counted = np.asarray(counted, bool)
    k = int((np.asarray(successes, bool) & counted).sum())
    n = int(counted.sum())
    deff, num_l = design_effect(successes, counted, clusters)
    if n == 0:
        nan = float('nan')
        return dict(
            k=0,
            n=0,
            value=nan,
            ci_lower=nan,
            ci_upper=nan,
            deff=nan,
            n_eff=0.0,
            lesions=0)
    n_eff = n / deff
    lo, hi = proportion_interval(k / n * n_eff, n_eff, ci_level)
    return dict(
        k=k,
        n=n,
        value=k / n,
        ci_lower=lo,
        ci_upper=hi,
        deff=deff,
        n_eff=float(n_eff),
        lesions=num_l)


def macro_interval(boot: Tuple[float, float],
                   class_intervals: Sequence[Tuple[float, float]],
                   class_counts: Sequence[Tuple[int, int]]) -> dict:
    """The interval of a macro mean of per-class proportions, never
    collapsed silently.

    The lesion bootstrap cannot see the uncertainty of a class whose rate
    is at a boundary (``k = 0`` or ``k = n``: every round gives 0 or 1), so
    for a single-class predictor the percentile interval of the macro mean
    shrinks onto the point estimate (``0.333 (0.333-0.500)``). When a
    defined class rate is at a boundary, the interval is widened to the
    hull of the bootstrap interval and the mean of the per-class Wilson
    bounds (each of which has width at the boundary), and says so.

    Args:
        boot (tuple): The bootstrap percentile interval ``(lo, hi)``.
        class_intervals (Sequence[tuple]): Per-class Wilson ``(lo, hi)``.
        class_counts (Sequence[tuple]): Per-class ``(k, n)``.

    Returns:
        dict: ``ci_lower``, ``ci_upper`` and ``note`` (``None`` when the
        bootstrap interval stands as it is).
    """
    defined = [i for i, (_, n) in enumerate(class_counts) if n > 0]
    at_edge = [
        i for i in defined if class_counts[i][0] in (0, class_counts[i][1])
    ]
    lo, hi = float(boot[0]), float(boot[1])
    if not at_edge:
        return dict(ci_lower=lo, ci_upper=hi, note=None)
    w_lo = float(np.mean([class_intervals[i][0] for i in defined]))
    w_hi = float(np.mean([class_intervals[i][1] for i in defined]))
    return dict(
        ci_lower=float(np.nanmin([lo, w_lo])),
        ci_upper=float(np.nanmax([hi, w_hi])),
        note=(f'{len(at_edge)} of {len(defined)} class rates at 0 or 1 '
              '(the bootstrap cannot vary them): hull of the bootstrap '
              'interval and the mean of the per-class Wilson bounds'))

"""Paired tests of proportions, Wilson intervals and the lesion bootstrap."""
from typing import Dict, Iterator, Tuple

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint


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


def wilson_interval(successes: int, total: int,
                    ci_level: float = 0.95) -> Tuple[float, float]:
    """Wilson score interval of a proportion (statsmodels); NaN if
    ``total == 0``."""
    if total == 0:
        return float('nan'), float('nan')
    lo, hi = proportion_confint(
        successes, total, alpha=1 - ci_level, method='wilson')
    return float(lo), float(hi)


def bootstrap_multiplicities(num: int,
                             rounds: int,
                             seed: int = 0,
                             chunk: int = 500) -> Iterator[np.ndarray]:
    """Multiplicities of ``num`` units (lesions) in bootstrap resamples.

    Yields arrays ``(r, num)`` of how often each unit is drawn, ``r <=
    chunk`` rows at a time, ``rounds`` rows in all; weights for paired
    statistics (every model or reader is evaluated on the same resample).

    Args:
        num (int): Number of units.
        rounds (int): Bootstrap rounds.
        seed (int): Seed of ``numpy.random.default_rng``. Defaults to 0.
        chunk (int): Rows per yielded array. Defaults to 500.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, rounds, chunk):
        r = min(chunk, rounds - start)
        draws = rng.integers(0, num, size=(r, num))
        yield np.bincount(
            (draws + np.arange(r)[:, None] * num).ravel(),
            minlength=r * num).reshape(r, num).astype(np.float64)


def percentile_interval(values: np.ndarray,
                        ci_level: float = 0.95) -> Tuple[float, float]:
    """Percentile interval of bootstrap values, NaN rounds left out."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not len(values):
        return float('nan'), float('nan')
    alpha = (1 - ci_level) / 2 * 100
    lo, hi = np.percentile(values, [alpha, 100 - alpha])
    return float(lo), float(hi)


def weighted_rates(pred: np.ndarray, target: np.ndarray, weights: np.ndarray,
                   num_classes: int) -> Dict[str, np.ndarray]:
    """Accuracy and per-class sensitivity / specificity under weightings.

    Unlike a zero-division convention, a rate whose denominator is zero in
    a round is NaN, so bootstrap intervals leave such rounds out.

    Args:
        pred (np.ndarray): Predicted classes ``(N, )``.
        target (np.ndarray): True classes ``(N, )``.
        weights (np.ndarray): ``(R, N)`` multiplicities.
        num_classes (int): ``C``.

    Returns:
        dict: ``accuracy (R, )``, ``sensitivity (R, C)``,
        ``specificity (R, C)``.
    """
    pred, target = np.asarray(pred), np.asarray(target)
    eye = np.eye(num_classes)
    is_pos, said_pos = eye[target], eye[pred]
    correct = (pred == target).astype(float)
    total = weights.sum(1)
    pos = weights @ is_pos
    neg = total[:, None] - pos
    tp = weights @ (is_pos * said_pos)
    tn = weights @ ((1 - is_pos) * (1 - said_pos))
    with np.errstate(invalid='ignore', divide='ignore'):
        return dict(
            accuracy=np.where(total > 0, weights @ correct / total, np.nan),
            sensitivity=np.where(pos > 0, tp / pos, np.nan),
            specificity=np.where(neg > 0, tn / neg, np.nan))


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

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""DeLong's test for paired ROC AUCs, in the fast form of Sun & Xu (2014).

References:
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas
    under two or more correlated receiver operating characteristic curves:
    a nonparametric approach. Biometrics 44:837-845.
    Sun X, Xu W (2014). Fast implementation of DeLong's algorithm for
    comparing the areas under correlated receiver operating characteristic
    curves. IEEE Signal Processing Letters 21:1389-1393.
"""
from typing import Dict, Sequence, Tuple

import numpy as np
from scipy.stats import norm, rankdata


def placement_values(
        scores: np.ndarray,
        positive: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and DeLong placement values of ``k`` scorings of one sample.

    With ``m`` positives and ``n`` negatives, the placement value of a
    positive ``i`` is ``V10_i = mean_j psi(x_i, y_j)`` and that of a
    negative ``j`` is ``V01_j = mean_i psi(x_i, y_j)``, where
    ``psi = 1, 1/2, 0`` when the positive scores above, level with or below
    the negative. Computed from mid-ranks (Sun & Xu 2014): one sort per
    scoring instead of ``m * n`` comparisons.

    Args:
        scores (np.ndarray): Scores ``(k, N)`` (or ``(N, )``), higher means
            more likely positive.
        positive (np.ndarray): Bool labels ``(N, )``.

    Returns:
        tuple: ``auc (k, )``, ``v10 (k, m)`` and ``v01 (k, n)``, positives
        and negatives in the order they appear in ``positive``.
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    positive = np.asarray(positive, dtype=bool)
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        raise ValueError(f'an AUC needs positives and negatives; got {m} '
                         f'positives and {n} negatives')
    x, y = scores[:, positive], scores[:, ~positive]
    tx = rankdata(x, axis=1)
    ty = rankdata(y, axis=1)
    tz = rankdata(np.concatenate([x, y], axis=1), axis=1)
    auc = tz[:, :m].sum(1) / (m * n) - (m + 1.0) / (2.0 * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return auc, v10, v01


def auc_influence(scores: np.ndarray,
                  positive: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """AUCs and per-case influence rows whose Gram matrix is DeLong's
    covariance.

    ``infl[:, i] = (V10_i - AUC) / sqrt(m (m - 1))`` for a positive case and
    ``(V01_j - AUC) / sqrt(n (n - 1))`` for a negative one, so
    ``infl @ infl.T = S10 / m + S01 / n``, DeLong's covariance matrix of the
    ``k`` AUCs. Stacking the rows of several one-vs-rest problems on the
    same cases gives their joint covariance (each case is a positive of one
    class and a negative of the others), which is how the macro AUC gets its
    variance.

    Args:
        scores (np.ndarray): ``(k, N)`` or ``(N, )``.
        positive (np.ndarray): Bool ``(N, )``.

    Returns:
        tuple: ``auc (k, )`` and ``infl (k, N)`` in the order of the cases.
    """
    positive = np.asarray(positive, dtype=bool)
    auc, v10, v01 = placement_values(scores, positive)
    m, n = v10.shape[1], v01.shape[1]
    infl = np.zeros((len(auc), len(positive)))
    # with a single positive (negative) its placement value equals the AUC,
    # so the deviation is 0; max(., 1) only avoids 0 / 0
    infl[:, positive] = (v10 - auc[:, None]) / np.sqrt(max(m * (m - 1), 1))
    infl[:, ~positive] = (v01 - auc[:, None]) / np.sqrt(max(n * (n - 1), 1))
    return auc, infl


def delong_covariance(scores: np.ndarray,
                      positive: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """DeLong's estimate of the covariance of correlated AUCs.

    Args:
        scores (np.ndarray): Scores ``(k, N)`` of ``k`` models on the same
            ``N`` cases.
        positive (np.ndarray): Bool labels ``(N, )``.

    Returns:
        tuple: ``auc (k, )`` and covariance ``(k, k)``.
    """
    auc, infl = auc_influence(scores, positive)
    return auc, infl @ infl.T


def _z_test(diff: float, var: float, ci_level: float) -> Dict[str, float]:
    se = float(np.sqrt(max(var, 0.0)))
    z_crit = norm.ppf(0.5 + ci_level / 2)
    if se > 0:
        z = diff / se
        p = float(2 * norm.sf(abs(z)))
    else:
        # identical scorings (or a degenerate sample): no evidence
        z, p = (0.0, 1.0) if diff == 0 else (float(np.sign(diff) * np.inf),
                                             0.0)
    return dict(
        difference=float(diff),
        se=se,
        z=float(z),
        p_value=p,
        ci_lower=float(diff - z_crit * se),
        ci_upper=float(diff + z_crit * se))


def delong_test(positive: np.ndarray,
                scores_a: np.ndarray,
                scores_b: np.ndarray,
                ci_level: float = 0.95) -> Dict[str, float]:
    """Two-sided DeLong test of ``AUC_a - AUC_b`` on paired scores.

    Args:
        positive (np.ndarray): Bool labels ``(N, )``.
        scores_a (np.ndarray): Scores of model A ``(N, )``.
        scores_b (np.ndarray): Scores of model B ``(N, )``.
        ci_level (float): Level of the normal interval of the difference.
            Defaults to 0.95.

    Returns:
        dict: ``auc_a``, ``auc_b``, ``difference`` (A - B), ``se``, ``z``,
        ``p_value``, ``ci_lower``, ``ci_upper``.
    """
    auc, cov = delong_covariance(np.stack([scores_a, scores_b]), positive)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    out = dict(auc_a=float(auc[0]), auc_b=float(auc[1]))
    out.update(_z_test(auc[0] - auc[1], var, ci_level))
    return out


def one_vs_rest_delong(target: np.ndarray, scores: Sequence[np.ndarray],
                       num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
    """One-vs-rest AUCs of several models and their joint DeLong covariance.

    Args:
        target (np.ndarray): True class indices ``(N, )``.
        scores (Sequence[np.ndarray]): One ``(N, C)`` score array per model.
        num_classes (int): ``C``.

    Returns:
        tuple: ``auc (M, C)`` (NaN for a class without positives or without
        negatives) and ``cov (M, C, M, C)`` (NaN rows and columns for those
        classes).
    """
    target = np.asarray(target)
    num_m = len(scores)
    auc = np.full((num_m, num_classes), np.nan)
    infl = np.zeros((num_m, num_classes, len(target)))
    defined = np.zeros(num_classes, dtype=bool)
    for k in range(num_classes):
        positive = target == k
        if 0 < positive.sum() < len(target):
            defined[k] = True
            stacked = np.stack([np.asarray(s)[:, k] for s in scores])
            auc[:, k], infl[:, k] = auc_influence(stacked, positive)
    flat = infl.reshape(num_m * num_classes, -1)
    cov = (flat @ flat.T).reshape(num_m, num_classes, num_m, num_classes)
    cov[:, ~defined] = np.nan
    cov[:, :, :, ~defined] = np.nan
    return auc, cov


def paired_auc_tests(target: np.ndarray,
                     scores_a: np.ndarray,
                     scores_b: np.ndarray,
                     num_classes: int,
                     ci_level: float = 0.95) -> Dict[str, Dict[str, float]]:
    """DeLong tests of every one-vs-rest AUC and of the macro AUC.

    The macro AUC is the mean of the defined one-vs-rest AUCs; its
    difference's variance is ``c' Sigma c`` with ``Sigma`` the joint
    covariance of :func:`one_vs_rest_delong`.

    Args:
        target (np.ndarray): True class indices ``(N, )``.
        scores_a (np.ndarray): ``(N, C)`` scores of model A.
        scores_b (np.ndarray): ``(N, C)`` scores of model B.
        num_classes (int): ``C``.
        ci_level (float): Level of the normal intervals. Defaults to 0.95.

    Returns:
        dict: Keys ``'0' .. 'C-1'`` (class index as text) and ``'macro'``,
        each the output of :func:`delong_test` (NaN entries for a class
        without positives or negatives).
    """
    auc, cov = one_vs_rest_delong(target, [scores_a, scores_b], num_classes)
    out = {}
    nan = dict.fromkeys(('auc_a', 'auc_b', 'difference', 'se', 'z', 'p_value',
                         'ci_lower', 'ci_upper'), float('nan'))
    for k in range(num_classes):
        if np.isnan(auc[0, k]):
            out[str(k)] = dict(nan)
            continue
        var = cov[0, k, 0, k] + cov[1, k, 1, k] - 2 * cov[0, k, 1, k]
        res = dict(auc_a=float(auc[0, k]), auc_b=float(auc[1, k]))
        res.update(_z_test(auc[0, k] - auc[1, k], var, ci_level))
        out[str(k)] = res
    defined = ~np.isnan(auc[0])
    if not defined.any():
        out['macro'] = dict(nan)
        return out
    # contrast: +1/K on model A's defined classes, -1/K on model B's
    c = np.zeros((2, num_classes))
    c[0, defined] = 1.0 / defined.sum()
    c[1, defined] = -1.0 / defined.sum()
    sub = np.nan_to_num(cov.reshape(2 * num_classes, 2 * num_classes))
    var = c.ravel() @ sub @ c.ravel()
    macro_a = float(auc[0, defined].mean())
    macro_b = float(auc[1, defined].mean())
    res = dict(auc_a=macro_a, auc_b=macro_b)
    res.update(_z_test(macro_a - macro_b, var, ci_level))
    out['macro'] = res
    return out

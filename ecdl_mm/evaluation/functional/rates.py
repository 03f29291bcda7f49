# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Lesion aggregation, confusion matrices, rates and AUCs.

Part of :mod:`ecdl_mm.evaluation.functional` (conventions there)."""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

AGGREGATIONS = ('mean', 'vote', 'max')
RATES = ('sensitivity', 'specificity', 'ppv', 'npv')
CALIBRATION_BINS = 15


# --------------------------------------------------------------- helpers
def safe_div(num, den) -> np.ndarray:
    """``num / den`` with NaN where ``den == 0`` (the package's one
    zero-division convention: an empty denominator leaves a rate
    undefined)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def nanmean_or_nan(values, axis=None):
    """``np.nanmean`` without the all-NaN warning (NaN stays NaN)."""
    values = np.asarray(values, float)
    defined = ~np.isnan(values)
    total = np.where(defined, values, 0).sum(axis)
    count = defined.sum(axis)
    return safe_div(total, count)


# ------------------------------------------------------------ aggregation
def aggregate_lesions(
    scores: np.ndarray,
    lesion_ids: Sequence[str],
    method: str = 'mean'
) -> Tuple[List[str], np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate image scores into lesion scores.

    Args:
        scores (np.ndarray): Image class probabilities ``(N, C)``.
        lesion_ids (Sequence[str]): The lesion of every image, ``(N, )``.
        method (str): ``'mean'`` of the probabilities; ``'vote'``, the share
            of images predicting each class (ties broken by the mean
            probability); ``'max'``, the per-class maximum renormalised to
            sum to 1. Defaults to 'mean'.

    Returns:
        tuple: ``(ids, lesion_scores (L, C), lesion_pred (L, ),
        image_to_lesion (N, ))``; lesions in order of first appearance.
    """
    if method not in AGGREGATIONS:
        raise ValueError(
            f'aggregation={method!r} must be one of {AGGREGATIONS}')
    scores = np.asarray(scores, dtype=np.float64)
    ids, inverse, index = [], [], {}
    for lid in lesion_ids:
        if lid not in index:
            index[lid] = len(ids)
            ids.append(lid)
        inverse.append(index[lid])
    inverse = np.asarray(inverse, dtype=np.int64)
    num_l, num_c = len(ids), scores.shape[1]
    counts = np.bincount(inverse, minlength=num_l)[:, None]
    mean = np.zeros((num_l, num_c))
    np.add.at(mean, inverse, scores)
    mean /= counts
    if method == 'mean':
        agg = mean
        pred = agg.argmax(1)
    elif method == 'vote':
        votes = np.zeros((num_l, num_c))
        np.add.at(votes, (inverse, scores.argmax(1)), 1)
        agg = votes / counts
        # most votes first, then the highest mean probability: vote counts
        # differ by >= 1 while 0.5 * mean differs by < 1
        pred = (votes + 0.5 * mean).argmax(1)
    else:
        agg = np.full((num_l, num_c), -np.inf)
        np.maximum.at(agg, inverse, scores)
        agg = agg / agg.sum(1, keepdims=True)
        pred = agg.argmax(1)
    return ids, agg, pred.astype(np.int64), inverse


# ------------------------------------------------------- confusion rates
def confusion_matrix(pred: np.ndarray,
                     target: np.ndarray,
                     num_classes: int,
                     weights: Optional[np.ndarray] = None) -> np.ndarray:
    """Confusion matrix ``(C, C)``, or ``(R, C, C)`` for weights
    ``(R, N)`` (e.g. bootstrap multiplicities); rows = truth."""
    pred = np.asarray(pred, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    pair = np.zeros((len(target), num_classes * num_classes))
    pair[np.arange(len(target)), target * num_classes + pred] = 1
    if weights is None:
        return pair.sum(0).reshape(num_classes, num_classes)
    return (np.asarray(weights, float) @ pair).reshape(-1, num_classes,
                                                       num_classes)


def confusion_counts(cm: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class ``tp``, ``fn``, ``fp``, ``tn`` (``(..., C)``) and ``total``
    (``(...)``) of confusion matrices ``(..., C, C)``."""
    cm = np.asarray(cm, float)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    fn = cm.sum(-1) - tp
    fp = cm.sum(-2) - tp
    total = cm.sum((-2, -1))
    tn = total[..., None] - tp - fn - fp
    return dict(tp=tp, fn=fn, fp=fp, tn=tn, total=total)


def rate_fractions(cm: np.ndarray) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Numerator and denominator ``(k, n)`` of accuracy and of every
    per-class rate (sensitivity, specificity, PPV, NPV)."""
    c = confusion_counts(cm)
    tp, fn, fp, tn = c['tp'], c['fn'], c['fp'], c['tn']
    return OrderedDict(
        accuracy=(tp.sum(-1), c['total']),
        sensitivity=(tp, tp + fn),
        specificity=(tn, tn + fp),
        ppv=(tp, tp + fp),
        npv=(tn, tn + fn))


def confusion_rates(cm: np.ndarray) -> Dict[str, np.ndarray]:
    """Accuracy ``(...)`` and per-class sensitivity, specificity, PPV, NPV
    and F1 ``(..., C)`` of confusion matrices ``(..., C, C)``; NaN where a
    denominator is zero."""
    out = OrderedDict(
        (name, safe_div(k, n)) for name, (k, n) in rate_fractions(cm).items())
    c = confusion_counts(cm)
    out['f1'] = safe_div(2 * c['tp'], 2 * c['tp'] + c['fp'] + c['fn'])
    return out


def weighted_auc(score: np.ndarray, positive: np.ndarray,
                 weights: np.ndarray) -> np.ndarray:
    """Binary ROC AUC for many weightings of the same scores at once.

    Equals ``sklearn.metrics.roc_auc_score(positive, score,
    sample_weight=w)`` for every row ``w`` of ``weights`` (ties count 1/2),
    via the Mann-Whitney statistic on score groups, so a bootstrap of
    R rounds costs one sort plus O(R * N).

    Args:
        score (np.ndarray): Scores of shape ``(N, )``.
        positive (np.ndarray): Bool labels of shape ``(N, )``.
        weights (np.ndarray): Non-negative weights of shape ``(R, N)``.

    Returns:
        np.ndarray: AUC of shape ``(R, )``; NaN for a row whose weighted
        positives or negatives are all zero.
    """
    score = np.asarray(score)
    order = np.argsort(score, kind='mergesort')
    s = score[order]
    pos = np.asarray(positive)[order].astype(float)
    w = np.asarray(weights, float)[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    wp = np.add.reduceat(w * pos, starts, axis=1)
    wn = np.add.reduceat(w * (1 - pos), starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn
    num = (wp * (below + 0.5 * wn)).sum(1)
    den = wp.sum(1) * wn.sum(1)
    return safe_div(num, den)


def one_vs_rest_auc(scores: np.ndarray,
                    target: np.ndarray,
                    num_classes: int,
                    weights: Optional[np.ndarray] = None) -> np.ndarray:
    """One-vs-rest AUC of every class, ``(C, )`` (or ``(R, C)`` with
    weights ``(R, N)``); NaN for a class without positives or negatives."""
    scores = np.asarray(scores, float)
    onehot = np.eye(num_classes, dtype=bool)[np.asarray(target)]
    w = np.ones((1, len(onehot))) if weights is None else weights
    out = np.stack([
        weighted_auc(scores[:, k], onehot[:, k], w) for k in range(num_classes)
    ],
                   axis=1)
    return out[0] if weights is None else out


def micro_auc(scores: np.ndarray,
              target: np.ndarray,
              num_classes: int,
              weights: Optional[np.ndarray] = None):
    """Micro one-vs-rest AUC (all class columns pooled)."""
    onehot = np.eye(num_classes, dtype=bool)[np.asarray(target)]
    w = np.ones((1, len(onehot))) if weights is None else weights
    out = weighted_auc(
        np.asarray(scores, float).ravel(), onehot.ravel(),
        np.repeat(w, num_classes, axis=1))
    return float(out[0]) if weights is None else out

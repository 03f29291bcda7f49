# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Calibration: reliability bins, ECE, temperature scaling.

Part of :mod:`ecdl_mm.evaluation.functional` (conventions there)."""
from collections import OrderedDict
from typing import Dict, Tuple

import numpy as np

from .rates import CALIBRATION_BINS, safe_div


# ----------------------------------------------------------- calibration
def _bin_ids(conf: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # as sklearn.calibration.calibration_curve(strategy='uniform')
    return np.searchsorted(edges[1:-1], conf)


def reliability_bins(confidence: np.ndarray,
                     correct: np.ndarray,
                     n_bins: int = CALIBRATION_BINS) -> Dict[str, np.ndarray]:
    """Equal-width reliability bins of ``[0, 1]``.

    Args:
        confidence (np.ndarray): Predicted probability of the event
            ``(N, )`` (the top-label probability for top-label calibration).
        correct (np.ndarray): Whether the event happened ``(N, )``.
        n_bins (int): Defaults to :data:`CALIBRATION_BINS` (15).

    Returns:
        dict: ``edges (n_bins + 1, )``, ``count``, ``confidence`` (mean per
        bin) and ``accuracy`` (event rate per bin) ``(n_bins, )``; NaN in
        empty bins.
    """
    conf = np.asarray(confidence, float)
    hit = np.asarray(correct, float)
    ids = _bin_ids(conf, n_bins)
    count = np.bincount(ids, minlength=n_bins).astype(float)
    return dict(
        edges=np.linspace(0.0, 1.0, n_bins + 1),
        count=count,
        confidence=safe_div(np.bincount(ids, conf, n_bins), count),
        accuracy=safe_div(np.bincount(ids, hit, n_bins), count))


def binned_ece(confidence: np.ndarray,
               correct: np.ndarray,
               n_bins: int = CALIBRATION_BINS) -> float:
    """``sum_b (n_b / N) |accuracy_b - confidence_b|`` over non-empty
    equal-width bins."""
    b = reliability_bins(confidence, correct, n_bins)
    full = b['count'] > 0
    if not full.any():
        return float('nan')
    return float((b['count'][full] *
                  np.abs(b['accuracy'][full] - b['confidence'][full])).sum() /
                 b['count'].sum())


def calibration_metrics(probs: np.ndarray,
                        target: np.ndarray,
                        n_bins: int = CALIBRATION_BINS) -> Dict[str, float]:
    """Calibration of class probabilities ``(N, C)`` against labels.

    Returns:
        dict: ``ece`` (top-label ECE: the top probability against whether
        the top class is right), ``ece_classwise`` (mean over classes of the
        ECE of ``p_k`` against ``target == k``), ``brier`` (mean over
        samples of ``sum_k (p_k - y_k)^2``, range 0-2) and ``nll`` (mean
        ``-log p_target``, probabilities clipped at 1e-12).
    """
    p = np.asarray(probs, float)
    t = np.asarray(target, np.int64)
    num_c = p.shape[1]
    onehot = np.eye(num_c)[t]
    conf = p.max(1)
    correct = p.argmax(1) == t
    return OrderedDict(
        ece=binned_ece(conf, correct, n_bins),
        ece_classwise=float(
            np.mean([
                binned_ece(p[:, k], onehot[:, k], n_bins) for k in range(num_c)
            ])),
        brier=float(((p - onehot)**2).sum(1).mean()),
        nll=float(-np.log(np.clip(p[np.arange(len(t)),
                                    t], 1e-12, None)).mean()))


def temperature_scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(p) / T)`` (equals ``softmax(logits / T)``)."""
    logp = np.log(np.clip(np.asarray(probs, float), 1e-300, None))
    logp = logp / float(temperature)
    logp -= logp.max(axis=-1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=-1, keepdims=True)


TEMPERATURE_BOUNDS = (0.05, 20.0)


def fit_temperature(probs: np.ndarray,
                    target: np.ndarray,
                    bounds: Tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """Temperature minimising the NLL of ``softmax(log(p) / T)``.

    Bounded scalar minimisation (scipy, Brent) over ``log T``; the NLL of
    temperature scaling is smooth in ``log T``.

    Args:
        probs (np.ndarray): Validation probabilities (or
            ``softmax(logits)``) ``(N, C)``.
        target (np.ndarray): Labels ``(N, )``.
        bounds (tuple): Range of ``T``. Defaults to (0.05, 20).
    """
    from scipy.optimize import minimize_scalar
    logp = np.log(np.clip(np.asarray(probs, float), 1e-300, None))
    t = np.asarray(target, np.int64)

    def nll(log_t):
        z = logp / np.exp(log_t)
        z = z - z.max(1, keepdims=True)
        lse = np.log(np.exp(z).sum(1))
        return float((lse - z[np.arange(len(t)), t]).mean())

    res = minimize_scalar(
        nll,
        bounds=tuple(np.log(bounds)),
        method='bounded',
        options=dict(xatol=1e-6))
    return float(np.exp(res.x))

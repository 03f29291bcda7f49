# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Selective prediction: risk-coverage, selective rates and abstention
thresholds.

Part of :mod:`ecdl_mm.evaluation.functional` (conventions there)."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .intervals import proportion_interval
from .rates import confusion_matrix, rate_fractions, safe_div


# ------------------------------------------------------ selective (abstain)
def risk_coverage(confidence: np.ndarray,
                  correct: np.ndarray) -> Dict[str, np.ndarray]:
    """Risk-coverage curve of accepting the most confident cases first.

    Args:
        confidence (np.ndarray): ``(N, )``.
        correct (np.ndarray): Bool ``(N, )``.

    Returns:
        dict: ``threshold``, ``coverage`` and ``risk`` (error rate of the
        accepted cases) at every distinct confidence, from the highest
        (fewest accepted) to the lowest (all); ``aurc``, the area under the
        curve as the mean of the risk over the N acceptance sizes (ties
        enter together).
    """
    conf = np.asarray(confidence, float)
    wrong = ~np.asarray(correct, bool)
    order = np.argsort(-conf, kind='mergesort')
    c, w = conf[order], wrong[order].astype(float)
    cum = np.cumsum(w)
    n = np.arange(1, len(c) + 1)
    last = np.r_[c[1:] != c[:-1], True]  # end of every tie group
    risk_all = cum / n
    # ties enter together: every size within a tie group takes the group's
    # risk at its end
    group_end = np.flatnonzero(last)
    group_of = np.searchsorted(group_end, np.arange(len(c)))
    aurc = float(risk_all[group_end][group_of].mean()) if len(c) else \
        float('nan')
    return dict(
        threshold=c[last],
        coverage=n[last] / max(len(c), 1),
        risk=risk_all[last],
        aurc=aurc)


def selective_rates(pred: np.ndarray,
                    target: np.ndarray,
                    accepted: np.ndarray,
                    classes: Sequence[str],
                    ci_level: float = 0.95) -> 'OrderedDict[str, dict]':
    """Coverage and the rates among accepted cases, each with ``k``, ``n``
    and a Wilson interval (cases are lesions: independent units).

    Returns:
        OrderedDict: ``coverage``, ``accuracy`` and, per class,
        ``sensitivity_<c>``, ``specificity_<c>``, ``ppv_<c>``, ``npv_<c>``
        (one-vs-rest, as :func:`confusion_rates`) to dicts ``value``, ``k``,
        ``n``, ``ci_lower``, ``ci_upper``.
    """
    pred, target = np.asarray(pred), np.asarray(target)
    accepted = np.asarray(accepted, bool)

    def entry(k, n):
        lo, hi = proportion_interval(k, n, ci_level)
        return dict(
            value=float(safe_div(k, n)),
            k=int(k),
            n=int(n),
            ci_lower=lo,
            ci_upper=hi)

    out = OrderedDict(coverage=entry(accepted.sum(), len(accepted)))
    cm = confusion_matrix(pred[accepted], target[accepted], len(classes))
    for name, (k, n) in rate_fractions(cm).items():
        if name == 'accuracy':
            out[name] = entry(k, n)
            continue
        for i, c in enumerate(classes):
            out[f'{name}_{c}'] = entry(k[i], n[i])
    return out


TARGET_KINDS = ('accuracy', 'sensitivity', 'specificity', 'ppv', 'npv')


def parse_target(text: str, classes: Sequence[str]) -> Tuple[str, int, float]:
    """``'accuracy=0.95'``, ``'sensitivity:invasive_cancer=0.95'``,
    ``'npv:non-neoplastic=0.9'`` -> ``(kind, class index or -1, value)``.

    ``npv:C`` is the PIVI negative predictive value of a "diagnose and
    leave" class C: the share of cases *called* C that truly are C (the
    one-vs-rest PPV of C; ``ppv:C`` is the same number).
    """
    head, sep, value = str(text).partition('=')
    kind, _, cls = head.partition(':')
    try:
        val = float(value)
    except ValueError:
        val = float('nan')
    if not sep or not 0 < val <= 1 or kind not in TARGET_KINDS:
        raise ValueError(
            f'target {text!r} must be KIND=VALUE or KIND:CLASS=VALUE with '
            f'KIND in {TARGET_KINDS} and VALUE in (0, 1], e.g. '
            "'accuracy=0.95' or 'npv:non-neoplastic=0.90'")
    if kind == 'accuracy':
        if cls:
            raise ValueError(f'target {text!r}: accuracy takes no class')
        return kind, -1, val
    if cls not in classes:
        raise ValueError(f'target {text!r}: class {cls!r} is not one of '
                         f'{list(classes)}')
    return kind, list(classes).index(cls), val


def target_fraction(kind: str, k: int, pred: np.ndarray,
                    target: np.ndarray) -> Tuple[int, int]:
    """``(successes, total)`` of a target kind (see :func:`parse_target`)
    on the given cases."""
    pred, target = np.asarray(pred), np.asarray(target)
    if kind == 'accuracy':
        return int((pred == target).sum()), len(target)
    if kind == 'sensitivity':
        cases, ok = target == k, pred == k
    elif kind == 'specificity':
        cases, ok = target != k, pred != k
    else:  # 'ppv' and PIVI 'npv': among cases called k
        cases, ok = pred == k, target == k
    return int((ok & cases).sum()), int(cases.sum())


def abstention_threshold(
        confidence: np.ndarray, pred: np.ndarray, target: np.ndarray,
        targets: Sequence[Tuple[str, int, float]]) -> Optional[float]:
    """Lowest confidence threshold at which the accepted cases
    (``confidence >= threshold``) meet every target: the largest coverage
    that does. A rate that is undefined on the accepted cases (no case in
    its denominator) does not meet its target.

    Returns:
        float or None: The threshold (a confidence of one of the cases), or
        None if no threshold meets every target.
    """
    conf = np.asarray(confidence, float)
    for t in np.unique(conf):  # ascending: largest coverage first
        acc = conf >= t
        ok = True
        for kind, k, val in targets:
            s, n = target_fraction(kind, k,
                                   np.asarray(pred)[acc],
                                   np.asarray(target)[acc])
            if n == 0 or s / n < val:
                ok = False
                break
        if ok:
            return float(t)
    return None

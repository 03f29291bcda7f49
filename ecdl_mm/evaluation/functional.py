# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The evaluation core: every number of ecdl_mm's metrics and clinical
reports is computed here, once.

:class:`~ecdl_mm.evaluation.LesionMetric`, the clinical modules
(``clinical/model_comparison.py``, ``clinical/reader_study.py``),
``stats/paired.py``, the inferencers, ``tools/analysis/fit_operating_point.py``
and the benchmarks call these functions; none of them codes a rate, an
interval or an aggregation of its own.

Conventions (one for the whole package):

* **Zero division.** A rate whose denominator is zero (the sensitivity of a
  class without positives, the PPV of a class never predicted) is
  *undefined*: NaN, never 0. Macro means average the defined classes; a
  bootstrap round where a rate is undefined is left out of its interval.
* **Confusion matrices** have rows = truth, columns = prediction.
* **Intervals.** A proportion of independent units (lesions) gets a Wilson
  score interval (:func:`proportion_interval`, statsmodels). A proportion of
  images, which are clustered in lesions, gets a cluster-adjusted Wilson
  interval (:func:`clustered_proportion_interval`). AUCs, F1, macro means and
  differences get the percentile lesion bootstrap
  (:func:`bootstrap_multiplicities`, :func:`percentile_interval`).
* **Calibration** uses ``CALIBRATION_BINS = 15`` equal-width bins of
  ``[0, 1]``, right-closed as scikit-learn's ``calibration_curve``
  (a confidence equal to an inner edge falls in the lower bin).
"""
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

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


def bootstrap_multiplicities(num: int,
                             rounds: int,
                             seed: int = 0,
                             chunk: int = 500) -> Iterator[np.ndarray]:
    """Multiplicities of ``num`` units (lesions) in bootstrap resamples.

    Yields arrays ``(r, num)`` of how often each unit is drawn, ``r <=
    chunk`` rows at a time, ``rounds`` rows in all, from one
    ``numpy.random.default_rng(seed)``; weights for paired statistics
    (every model or reader is evaluated on the same resample).
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

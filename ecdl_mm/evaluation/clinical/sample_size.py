# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Planning a validation study: how many lesions, or readers and cases.

* :func:`proportion_sample_size`: lesions needed so that the lower bound of
  the two-sided interval of a proportion (NPV, sensitivity, accuracy,
  agreement) exceeds a threshold ``X`` with a given power when the true
  value is ``Y``; exact binomial power for a Wilson score or
  Clopper-Pearson ("exact") interval. The power of an exact design
  saw-tooths in ``n``; both the smallest ``n`` reaching the power and the
  smallest from which every larger ``n`` (up to ``max_n``) reaches it are
  given.
* :func:`auc_sample_size`: positives (and negatives) so that a one-sided
  test of ``AUC <= X`` rejects with the given power when the AUC is ``Y``,
  with the Hanley-McNeil variance (Hanley JA, McNeil BJ. The meaning and
  use of the area under a receiver operating characteristic (ROC) curve.
  Radiology 1982;143:29-36) and the sample-size formula of Obuchowski NA.
  Sample size calculations in studies of test accuracy. Stat Methods Med
  Res 1998;7:371-392: ``z_a sqrt(V(X)) + z_b sqrt(V(Y)) <= Y - X``.
* :func:`mrmc_power` / :func:`mrmc_sample_size`: readers x cases to detect
  a difference ``D`` between two modalities (reading without / with AI)
  from the Obuchowski-Rockette variance components of a pilot study
  (:func:`ecdl_mm.evaluation.stats.obuchowski_rockette`), random readers
  and cases, after Hillis SL, Obuchowski NA, Berbaum KS. Power estimation
  for multireader ROC methods: an updated and unified approach. Acad Radiol
  2011;18:129-142.
"""
from collections import OrderedDict
from typing import Sequence

import numpy as np
from scipy import stats


def _critical_k(n: np.ndarray, threshold: float, ci_level: float,
                method: str) -> np.ndarray:
    """Smallest ``k`` per ``n`` whose interval's lower bound exceeds
    ``threshold`` (``n + 1`` when none does)."""
    from statsmodels.stats.proportion import proportion_confint
    z = stats.norm.ppf(0.5 + ci_level / 2)
    x = threshold
    if method == 'wilson':
        # Wilson lower bound > x  <=>  k - n x > z sqrt(n x (1 - x))
        k = np.floor(n * x + z * np.sqrt(n * x * (1 - x))) + 1
    elif method == 'exact':
        # Clopper-Pearson lower bound > x  <=>  P(Bin(n, x) >= k) < a / 2
        k = stats.binom.ppf(1 - (1 - ci_level) / 2, n, x) + 1
    else:
        raise ValueError(f"method {method!r} is not 'wilson' or 'exact'")
    k = np.clip(k, 0, n + 1).astype(np.int64)
    cp = 'beta' if method == 'exact' else 'wilson'

    def above(kk):
        ok = kk <= n
        lo = np.zeros(len(n))
        lo[ok] = proportion_confint(
            kk[ok], n[ok], alpha=1 - ci_level, method=cp)[0]
        return ok & (lo > x)

    # settle floating-point ties at the boundary with statsmodels itself
    for _ in range(3):
        down = (k > 0) & above(k - 1)
        k = np.where(down, k - 1, k)
        up = (k <= n) & ~above(k)
        k = np.where(up, k + 1, k)
    return k


def proportion_power(n,
                     true_value: float,
                     threshold: float,
                     ci_level: float = 0.95,
                     method: str = 'wilson') -> np.ndarray:
    """Probability that the lower bound exceeds ``threshold`` with ``n``
    lesions when the true proportion is ``true_value`` (exact binomial)."""
    n = np.atleast_1d(np.asarray(n, np.int64))
    k = _critical_k(n, threshold, ci_level, method)
    return stats.binom.sf(k - 1, n, true_value)


def proportion_sample_size(true_value: float,
                           threshold: float,
                           power: float = 0.8,
                           ci_level: float = 0.95,
                           method: str = 'wilson',
                           fraction: float = 1.0,
                           max_n: int = 20000) -> 'OrderedDict':
    """Lesions needed so that the lower ``ci_level`` bound of a proportion
    exceeds ``threshold`` with probability ``power`` when its true value is
    ``true_value``.

    Args:
        true_value (float): ``Y``, the expected proportion.
        threshold (float): ``X`` < ``Y``.
        power (float): Defaults to 0.8.
        ci_level (float): Two-sided level. Defaults to 0.95.
        method (str): ``'wilson'`` or ``'exact'`` (Clopper-Pearson).
        fraction (float): Share of all lesions that enter the denominator
            (e.g. diminutive rectosigmoid lesions called non-neoplastic for
            the PIVI NPV); ``lesions_total = ceil(n / fraction)``.
        max_n (int): Search limit.

    Returns:
        OrderedDict: ``n`` (smallest reaching the power), ``critical_k``
        (successes needed at ``n``), ``power`` at ``n``, ``n_stable``,
        ``lesions_total``, ``lesions_total_stable`` and the settings.

    Raises:
        ValueError: On ``threshold >= true_value`` or no ``n <= max_n``.
    """
    if not 0 < threshold < true_value < 1:
        raise ValueError(f'need 0 < threshold ({threshold}) < true value '
                         f'({true_value}) < 1')
    if not 0 < fraction <= 1:
        raise ValueError(f'fraction {fraction} is not in (0, 1]')
    n = np.arange(1, max_n + 1)
    pw = proportion_power(n, true_value, threshold, ci_level, method)
    ok = pw >= power
    if not ok.any():
        raise ValueError(f'no n <= {max_n} reaches power {power} (true '
                         f'{true_value}, threshold {threshold})')
    first = int(np.argmax(ok))
    fails = np.flatnonzero(~ok)
    stable = int(fails[-1] + 1) if len(fails) else 0
    k = _critical_k(n[[first]], threshold, ci_level, method)[0]
    return OrderedDict(
        true_value=true_value,
        threshold=threshold,
        power_target=power,
        ci_level=ci_level,
        method=method,
        n=int(n[first]),
        critical_k=int(k),
        power=float(pw[first]),
        n_stable=int(n[stable]) if stable < len(n) else None,
        fraction=fraction,
        lesions_total=int(np.ceil(n[first] / fraction - 1e-9)),
        lesions_total_stable=(int(np.ceil(n[stable] / fraction -
                                          1e-9)) if stable < len(n) else None))


def hanley_mcneil_variance(auc: float, n_pos, n_neg):
    """Variance of the empirical AUC (Hanley & McNeil 1982, eq. 2 with
    ``Q1 = A / (2 - A)``, ``Q2 = 2 A^2 / (1 + A)``)."""
    a = auc
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    n_pos, n_neg = np.asarray(n_pos, float), np.asarray(n_neg, float)
    return (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) *
            (q2 - a * a)) / (
                n_pos * n_neg)


def auc_sample_size(true_auc: float,
                    threshold: float,
                    power: float = 0.8,
                    ci_level: float = 0.95,
                    negatives_per_positive: float = 1.0,
                    max_n: int = 100000) -> 'OrderedDict':
    """Positives and negatives so that the lower ``ci_level`` bound of the
    AUC exceeds ``threshold`` with ``power`` when the AUC is ``true_auc``
    (Obuchowski 1998 with the Hanley-McNeil variance, one-sided level
    ``(1 - ci_level) / 2``)."""
    if not 0.5 <= threshold < true_auc < 1:
        raise ValueError(f'need 0.5 <= threshold ({threshold}) < true AUC '
                         f'({true_auc}) < 1')
    za = stats.norm.ppf(0.5 + ci_level / 2)
    zb = stats.norm.ppf(power)
    m = np.arange(2, max_n + 1)
    neg = np.ceil(m * negatives_per_positive)
    need = za * np.sqrt(hanley_mcneil_variance(threshold, m, neg)) + \
        zb * np.sqrt(hanley_mcneil_variance(true_auc, m, neg))
    ok = np.flatnonzero(need <= true_auc - threshold)
    if not len(ok):
        raise ValueError(f'no design with <= {max_n} positives')
    i = ok[0]
    return OrderedDict(
        true_auc=true_auc,
        threshold=threshold,
        power_target=power,
        ci_level=ci_level,
        positives=int(m[i]),
        negatives=int(neg[i]),
        total=int(m[i] + neg[i]),
        method='Hanley-McNeil variance, Obuchowski (1998) formula')


def mrmc_power(components: dict,
               readers: int,
               cases: int,
               difference: float,
               alpha: float = 0.05) -> 'OrderedDict':
    """Power of the Obuchowski-Rockette random-readers random-cases test of
    two modalities (Hillis, Obuchowski & Berbaum 2011).

    Args:
        components (dict): From a pilot: ``ms_tr``, ``var``, ``cov1``,
            ``cov2``, ``cov3`` and ``num_cases`` (as
            :func:`~ecdl_mm.evaluation.stats.obuchowski_rockette` and
            ``reader_study.json``'s ``mrmc`` rows give them; ``num_lesions``
            is accepted for ``num_cases``).
        readers (int), cases (int): The planned study.
        difference (float): ``D``, the FOM difference to detect.
        alpha (float): Two-sided level. Defaults to 0.05.

    Returns:
        OrderedDict: ``power``, ``noncentrality``, ``ddf``, ``sigma2_tr``
        (the pilot's treatment-by-reader variance, truncated at 0).
    """
    c0 = components.get('num_cases', components.get('num_lesions'))
    var, cov1 = components['var'], components['cov1']
    c23 = max(components['cov2'] - components['cov3'], 0.0)
    s2_tr = max(components['ms_tr'] - (var - cov1 - c23), 0.0)
    scale = c0 / cases
    den = s2_tr + scale * (var - cov1 + (readers - 1) * c23)
    inner = s2_tr + scale * (var - cov1 - c23)
    lam = readers * difference**2 / (2 * den)
    ddf = den**2 / (inner**2 / (readers - 1)) if inner > 0 else np.inf
    crit = (
        stats.f.ppf(1 - alpha, 1, ddf) if np.isfinite(ddf) else stats.chi2.ppf(
            1 - alpha, 1))
    pw = (
        stats.ncf.sf(crit, 1, ddf, lam) if np.isfinite(ddf) else stats.ncx2.sf(
            crit, 1, lam))
    return OrderedDict(
        readers=int(readers),
        cases=int(cases),
        difference=float(difference),
        power=float(pw),
        noncentrality=float(lam),
        ddf=float(ddf),
        sigma2_tr=float(s2_tr))


def mrmc_sample_size(components: dict,
                     difference: float,
                     readers: Sequence[int] = (3, 4, 5, 6, 8, 10, 15),
                     power: float = 0.8,
                     alpha: float = 0.05,
                     max_cases: int = 20000) -> list:
    """For each reader count, the fewest cases reaching ``power``
    (None when even ``max_cases`` does not: the reader variance
    dominates)."""
    out = []
    for r in readers:
        lo, hi = 2, max_cases
        if mrmc_power(components, r, hi, difference, alpha)['power'] < power:
            out.append(OrderedDict(readers=int(r), cases=None, power=None))
            continue
        while lo < hi:
            mid = (lo + hi) // 2
            if mrmc_power(components, r, mid, difference,
                          alpha)['power'] >= power:
                hi = mid
            else:
                lo = mid + 1
        res = mrmc_power(components, r, lo, difference, alpha)
        out.append(
            OrderedDict(readers=int(r), cases=int(lo), power=res['power']))
    return out

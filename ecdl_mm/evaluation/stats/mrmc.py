# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Multi-reader multi-case (MRMC) analysis: Obuchowski-Rockette with
jackknife covariances and Hillis' degrees of freedom (OR-DBM).

A fully crossed study: ``t`` modalities (e.g. reading without / with AI),
``r`` readers and ``c`` cases, every reader reading every case in every
modality. A figure of merit (FOM) ``theta_ij`` per modality ``i`` and reader
``j`` (accuracy, sensitivity, AUC, ...) and its ``c`` leave-one-case-out
values ``theta_ij(k)`` are all that is needed.

References:
    Obuchowski NA, Rockette HE (1995). Hypothesis testing of diagnostic
    accuracy for multiple readers and multiple tests: an ANOVA approach
    with dependent observations. Commun Stat Simul Comput 24:285-308.
    Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS (2005). A comparison
    of the Dorfman-Berbaum-Metz and Obuchowski-Rockette methods for
    receiver operating characteristic (ROC) data. Stat Med 24:1579-1607.
    Hillis SL (2007). A comparison of denominator degrees of freedom
    methods for multiple observer ROC analysis. Stat Med 26:596-619.

The numbers equal those of the Iowa OR-DBM MRMC software (and RJafroc /
iMRMC's OR analysis) on the Van Dyke data (tested).
"""
from typing import Dict, Optional

import numpy as np
from scipy import stats

from .delong import placement_values


def jackknife_ratio(numerator: np.ndarray,
                    denominator: np.ndarray) -> np.ndarray:
    """Leave-one-case-out values of a FOM ``sum(a) / sum(b)`` over cases.

    Accuracy is ``a = correct``, ``b = 1``; the sensitivity of a class is
    ``a = correct and positive``, ``b = positive``; specificity likewise on
    the negatives.

    Args:
        numerator (np.ndarray): Per-case ``a``, shape ``(..., c)``.
        denominator (np.ndarray): Per-case ``b``, shape ``(..., c)``.

    Returns:
        np.ndarray: ``(..., c)``; entry ``k`` is the FOM without case ``k``
        (NaN if no denominator is left).
    """
    a = np.asarray(numerator, dtype=np.float64)
    b = np.broadcast_to(np.asarray(denominator, dtype=np.float64), a.shape)
    num = a.sum(-1, keepdims=True) - a
    den = b.sum(-1, keepdims=True) - b
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def jackknife_auc(scores: np.ndarray,
                  positive: np.ndarray) -> Dict[str, np.ndarray]:
    """Empirical (trapezoidal, Wilcoxon) AUC and its leave-one-case-out
    values, from DeLong placement values: without positive ``i`` the AUC is
    ``(m AUC - V10_i) / (m - 1)``, without negative ``j``
    ``(n AUC - V01_j) / (n - 1)``.

    Args:
        scores (np.ndarray): Ratings ``(k, c)`` of ``k`` reader-modality
            pairs on the same cases.
        positive (np.ndarray): Bool ``(c, )``.

    Returns:
        dict: ``fom (k, )`` and ``jackknife (k, c)``.
    """
    positive = np.asarray(positive, dtype=bool)
    auc, v10, v01 = placement_values(scores, positive)
    m, n = v10.shape[1], v01.shape[1]
    jk = np.full((len(auc), len(positive)), np.nan)
    if m > 1:
        jk[:, positive] = (m * auc[:, None] - v10) / (m - 1)
    if n > 1:
        jk[:, ~positive] = (n * auc[:, None] - v01) / (n - 1)
    return dict(fom=auc, jackknife=jk)


def or_covariances(jackknife: np.ndarray) -> Dict[str, float]:
    """Jackknife error covariances of the OR model.

    ``Cov(theta_ij, theta_i'j') = (c - 1) / c * sum_k (theta_ij(k) -
    theta_ij(.)) (theta_i'j'(k) - theta_i'j'(.))``, averaged into ``Var``
    (same modality and reader), ``Cov1`` (same reader, different
    modalities), ``Cov2`` (same modality, different readers) and ``Cov3``
    (both different).

    Args:
        jackknife (np.ndarray): ``(t, r, c)`` leave-one-case-out FOMs.

    Returns:
        dict: ``var``, ``cov1``, ``cov2``, ``cov3`` (NaN where no pair of
        that kind exists) and ``cov`` the full ``(t, r, t, r)`` matrix.
    """
    jk = np.asarray(jackknife, dtype=np.float64)
    t, r, c = jk.shape
    dev = (jk - jk.mean(-1, keepdims=True)).reshape(t * r, c)
    cov = ((c - 1) / c * dev @ dev.T).reshape(t, r, t, r)
    same_t = np.eye(t, dtype=bool)[:, None, :, None]
    same_r = np.eye(r, dtype=bool)[None, :, None, :]
    out = {}
    for name, mask in (('var', same_t & same_r), ('cov1', ~same_t & same_r),
                       ('cov2', same_t & ~same_r), ('cov3',
                                                    ~same_t & ~same_r)):
        mask = np.broadcast_to(mask, cov.shape)
        out[name] = float(cov[mask].mean()) if mask.any() else float('nan')
    out['cov'] = cov
    return out


def obuchowski_rockette(fom: np.ndarray,
                        jackknife: np.ndarray,
                        ci_level: float = 0.95) -> Dict[str, object]:
    """Obuchowski-Rockette test of equal modality FOMs, jackknife
    covariances, Hillis (2007) denominator degrees of freedom.

    Random readers and random cases (RRRC; the p-value accounts for both):
    ``F = MS(T) / [MS(T*R) + r max(Cov2 - Cov3, 0)]`` on ``t - 1`` and
    ``ddf_H = [MS(T*R) + r max(Cov2 - Cov3, 0)]^2 / {MS(T*R)^2 / [(t - 1)
    (r - 1)]}`` degrees of freedom. Also fixed readers, random cases
    (FRRC: ``X2 = (t - 1) MS(T) / [Var - Cov1 + (r - 1) max(Cov2 - Cov3,
    0)]``, chi-square on ``t - 1`` df) and random readers, fixed cases
    (RRFC: ``F = MS(T) / MS(T*R)`` on ``t - 1, (t - 1)(r - 1)`` df).

    Differences are ``modality i - modality 0`` (the first modality is the
    reference), with ``SE = sqrt(2 / r * error term)`` and t (RRRC, RRFC)
    or normal (FRRC) intervals.

    Args:
        fom (np.ndarray): ``(t, r)`` FOMs, modality by reader.
        jackknife (np.ndarray): ``(t, r, c)`` leave-one-case-out FOMs.
        ci_level (float): Level of the intervals. Defaults to 0.95.

    Returns:
        dict: ``modality_fom (t, )`` reader means, ``ms_t``, ``ms_r``,
        ``ms_tr``, ``var``, ``cov1``, ``cov2``, ``cov3``, and ``rrrc``,
        ``frrc``, ``rrfc`` dicts with the statistic, dfs, ``p_value`` and
        ``differences`` (one dict per non-reference modality).
    """
    fom = np.asarray(fom, dtype=np.float64)
    jk = np.asarray(jackknife, dtype=np.float64)
    if fom.ndim != 2 or jk.ndim != 3 or jk.shape[:2] != fom.shape:
        raise ValueError(f'fom {fom.shape} must be (t, r) and jackknife '
                         f'{jk.shape} (t, r, c)')
    t, r = fom.shape
    if t < 2:
        raise ValueError(f'an MRMC comparison needs >= 2 modalities, got {t}')
    if r < 2:
        raise ValueError(f'an MRMC analysis needs >= 2 readers, got {r}')
    if np.isnan(fom).any() or np.isnan(jk).any():
        raise ValueError('the FOM is undefined for some reader, modality or '
                         'leave-one-out sample (e.g. a sensitivity with a '
                         'single positive case)')
    cov = or_covariances(jk)
    mean_t = fom.mean(1)
    ms_r = t * np.sum((fom.mean(0) - fom.mean())**2) / (r - 1)
    # MS(T) and MS(T*R) do not change when a constant per reader is
    # subtracted; subtracting the reference modality makes them exactly 0
    # (not rounding noise) when the modalities agree
    d = fom - fom[:1]
    d_t, d_grand = d.mean(1), d.mean()
    ms_t = r * np.sum((d_t - d_grand)**2) / (t - 1)
    inter = d - d_t[:, None] - d.mean(0)[None, :] + d_grand
    ms_tr = np.sum(inter**2) / ((t - 1) * (r - 1))
    cov23 = max(cov['cov2'] - cov['cov3'], 0.0)
    df_t = t - 1

    def ratio(num, den):
        if den > 0:
            return num / den
        return 0.0 if num == 0 else float('inf')

    def differences(se, crit):
        out = []
        for i in range(1, t):
            diff = float(d_t[i])
            out.append(
                dict(
                    modality=i,
                    difference=diff,
                    se=float(se),
                    ci_lower=float(diff - crit * se),
                    ci_upper=float(diff + crit * se)))
        return out

    # random readers, random cases
    den = ms_tr + r * cov23
    f_rrrc = ratio(ms_t, den)
    ddf = (
        den**2 / (ms_tr**2 / (df_t * (r - 1))) if ms_tr > 0 else float('inf'))
    if np.isinf(ddf):
        p_rrrc = float(stats.chi2.sf(f_rrrc * df_t, df_t))
        crit = stats.norm.ppf(0.5 + ci_level / 2)
    else:
        p_rrrc = float(stats.f.sf(f_rrrc, df_t, ddf))
        crit = stats.t.ppf(0.5 + ci_level / 2, ddf)
    rrrc = dict(
        f=float(f_rrrc),
        df1=df_t,
        df2=float(ddf),
        error_term=float(den),
        p_value=p_rrrc,
        differences=differences(np.sqrt(2 / r * den), crit))

    # fixed readers, random cases
    den_f = cov['var'] - cov['cov1'] + (r - 1) * cov23
    x2 = ratio(df_t * ms_t, den_f)
    frrc = dict(
        chi2=float(x2),
        df=df_t,
        error_term=float(den_f),
        p_value=float(stats.chi2.sf(x2, df_t)),
        differences=differences(
            np.sqrt(2 / r * max(den_f, 0.0)),
            stats.norm.ppf(0.5 + ci_level / 2)))

    # random readers, fixed cases
    df_tr = df_t * (r - 1)
    f_rrfc = ratio(ms_t, ms_tr)
    rrfc = dict(
        f=float(f_rrfc),
        df1=df_t,
        df2=df_tr,
        p_value=float(stats.f.sf(f_rrfc, df_t, df_tr)),
        differences=differences(
            np.sqrt(2 / r * ms_tr), stats.t.ppf(0.5 + ci_level / 2, df_tr)))

    return dict(
        num_modalities=t,
        num_readers=r,
        num_cases=jk.shape[2],
        modality_fom=mean_t.tolist(),
        ms_t=float(ms_t),
        ms_r=float(ms_r),
        ms_tr=float(ms_tr),
        var=cov['var'],
        cov1=cov['cov1'],
        cov2=cov['cov2'],
        cov3=cov['cov3'],
        rrrc=rrrc,
        frrc=frrc,
        rrfc=rrfc)


def reader_fom(kind: str,
               target: np.ndarray,
               diagnosis: np.ndarray,
               class_index: Optional[int] = None,
               scores: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """A reader-level FOM and its leave-one-case-out values.

    Args:
        kind (str): ``'accuracy'``, ``'sensitivity'``, ``'specificity'``
            (of ``class_index``, one-vs-rest) or ``'auc'`` (of
            ``class_index``, from ``scores``).
        target (np.ndarray): True classes ``(c, )``.
        diagnosis (np.ndarray): Diagnoses ``(..., c)`` (e.g. modality by
            reader by case).
        class_index (int, optional): The class of a per-class FOM.
        scores (np.ndarray, optional): Scores for class ``class_index``,
            ``(..., c)``, for ``'auc'``.

    Returns:
        dict: ``fom (...)`` and ``jackknife (..., c)``.
    """
    target = np.asarray(target)
    diagnosis = np.asarray(diagnosis)
    if kind == 'accuracy':
        a = (diagnosis == target).astype(float)
        b = np.ones_like(a)
    elif kind in ('sensitivity', 'specificity'):
        if class_index is None:
            raise ValueError(f'kind={kind!r} needs class_index')
        pos = np.broadcast_to(target == class_index, diagnosis.shape)
        said = diagnosis == class_index
        if kind == 'sensitivity':
            a, b = (pos & said).astype(float), pos.astype(float)
        else:
            a, b = (~pos & ~said).astype(float), (~pos).astype(float)
    elif kind == 'auc':
        if class_index is None or scores is None:
            raise ValueError("kind='auc' needs class_index and scores")
        scores = np.asarray(scores, dtype=np.float64)
        flat = scores.reshape(-1, scores.shape[-1])
        res = jackknife_auc(flat, target == class_index)
        return dict(
            fom=res['fom'].reshape(scores.shape[:-1]),
            jackknife=res['jackknife'].reshape(scores.shape))
    else:
        raise ValueError(f'kind={kind!r} must be accuracy, sensitivity, '
                         'specificity or auc')
    with np.errstate(invalid='ignore', divide='ignore'):
        fom = np.where(b.sum(-1) > 0, a.sum(-1) / b.sum(-1), np.nan)
    return dict(fom=fom, jackknife=jackknife_ratio(a, b))

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Per-centre results pooled by a random-effects meta-analysis, as
multi-centre optical-biopsy papers show them in a forest plot.

Each centre's proportion ``k/n`` enters on the logit scale, ``log((k + a) /
(n - k + a))`` with variance ``1 / (k + a) + 1 / (n - k + a)``, where the
continuity correction ``a = 0.5`` is applied only to a centre with ``k = 0``
or ``k = n`` (else ``a = 0``). The pooled estimate, its interval, tau^2,
Cochran's Q and I^2 are statsmodels'
``statsmodels.stats.meta_analysis.combine_effects`` and are back-transformed
to a proportion. The default tau^2 estimator is Paule-Mandel
(``method_re='iterated'``), which stays >= 0; statsmodels' one-step
DerSimonian-Laird (``'dl'``) does not truncate a negative tau^2 at 0.
I^2 is reported as ``max(0, 1 - df / Q)`` (``i2``), statsmodels' untruncated
value beside (``i2_raw``).
"""
from collections import OrderedDict
from typing import Sequence

import numpy as np


def logit_effects(k: Sequence[float], n: Sequence[float]):
    """Logit effects and variances of proportions ``k/n``
    (see the module docstring); centres with ``n = 0`` must be left out
    by the caller."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    a = np.where((k == 0) | (k == n), 0.5, 0.0)
    eff = np.log((k + a) / (n - k + a))
    var = 1 / (k + a) + 1 / (n - k + a)
    return eff, var


def _expit(x):
    return float(1 / (1 + np.exp(-x)))


def pooled_proportion(names: Sequence[str],
                      k: Sequence[float],
                      n: Sequence[float],
                      ci_level: float = 0.95,
                      method_re: str = 'iterated') -> 'OrderedDict':
    """Random-effects pooled proportion across centres.

    Args:
        names (Sequence[str]): Centre names.
        k, n (Sequence[float]): Successes and totals per centre.
        ci_level (float): Defaults to 0.95.
        method_re (str): ``combine_effects``' tau^2 estimator,
            ``'iterated'`` (Paule-Mandel, default) or ``'dl'``.

    Returns:
        OrderedDict: ``centres`` (name, k, n, logit effect and variance,
        random-effects weight), ``pooled`` (``value``, ``ci_lower``,
        ``ci_upper`` back-transformed, ``logit``, ``se``), ``fixed``
        (likewise), ``tau2``, ``q``, ``q_df``, ``q_p_value``, ``i2``,
        ``method``; ``note`` when fewer than two centres have lesions.
    """
    from scipy import stats
    from statsmodels.stats.meta_analysis import combine_effects
    k, n = np.asarray(k, float), np.asarray(n, float)
    keep = n > 0
    names = [str(x) for x, m in zip(names, keep) if m]
    k, n = k[keep], n[keep]
    out = OrderedDict(
        method=f'random effects ({method_re}), logit scale',
        centres=[],
        num_centres=len(names))
    if len(names) < 2:
        out['note'] = ('undefined: fewer than two centres with lesions; '
                       'nothing to pool')
        return out
    eff, var = logit_effects(k, n)
    res = combine_effects(
        eff, var, method_re=method_re, alpha=1 - ci_level, row_names=names)
    frame = res.summary_frame()
    for i, name in enumerate(names):
        out['centres'].append(
            OrderedDict(
                centre=name,
                k=int(k[i]),
                n=int(n[i]),
                logit=float(eff[i]),
                variance=float(var[i]),
                weight_re=float(res.weights_rel_re[i])))
    for key, row in (('pooled', 'random effect'), ('fixed', 'fixed effect')):
        r = frame.loc[row]
        out[key] = OrderedDict(
            value=_expit(r['eff']),
            ci_lower=_expit(r['ci_low']),
            ci_upper=_expit(r['ci_upp']),
            logit=float(r['eff']),
            se=float(r['sd_eff']))
    q_df = len(names) - 1
    out.update(
        tau2=float(res.tau2),
        q=float(res.q),
        q_df=q_df,
        q_p_value=float(stats.chi2.sf(res.q, q_df)),
        i2=max(0.0, float(res.i2)),
        i2_raw=float(res.i2))
    return out


def forest_figure(meta: dict, title: str):
    """A forest plot: every centre's proportion with its logit (Wald)
    interval back-transformed, marker size by random-effects weight, the
    pooled random-effects diamond, I^2 and tau^2 in the title."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from scipy import stats
    rows = meta['centres']
    z = stats.norm.ppf(0.975)
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.35 * (len(rows) + 2)))
    ys = np.arange(len(rows) + 1)[::-1]
    for y, r in zip(ys[:-1], rows):
        se = np.sqrt(r['variance'])
        lo, hi = _expit(r['logit'] - z * se), _expit(r['logit'] + z * se)
        ax.plot([lo, hi], [y, y], color='k', lw=1)
        ax.plot(
            _expit(r['logit']), y, 's', color='k', ms=4 + 8 * r['weight_re'])
        ax.text(
            1.02,
            y,
            f"{r['k']}/{r['n']}",
            va='center',
            fontsize=8,
            transform=ax.get_yaxis_transform())
    p = meta['pooled']
    ax.fill([p['ci_lower'], p['value'], p['ci_upper'], p['value']],
            [0, 0.25, 0, -0.25],
            color='tab:blue')
    ax.axvline(p['value'], color='tab:blue', ls=':', lw=1)
    ax.set_yticks(ys)
    ax.set_yticklabels([r['centre'] for r in rows] + ['random-effects pooled'])
    ax.set_xlim(min(0.5, p['ci_lower'] - 0.05), 1.0)
    ax.set_ylim(-0.6, len(rows) + 0.6)
    ax.set_xlabel('proportion (95% interval)')
    ax.set_title(f"{title}: I\u00b2 = {meta['i2']:.0%}, "
                 f"tau\u00b2 = {meta['tau2']:.3f}")
    fig.tight_layout()
    return fig

# Copyright (c) ecdl_mm contributors. All rights reserved.
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (proportion_confint,
                                          proportion_effectsize)

from ecdl_mm.evaluation.clinical.sample_size import (auc_sample_size,
                                                     hanley_mcneil_variance,
                                                     mrmc_power,
                                                     mrmc_sample_size,
                                                     proportion_sample_size)
from ecdl_mm.evaluation.stats import obuchowski_rockette, reader_fom

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def brute_force(true_value, threshold, power, method, max_n):
    """Independent exact search: for each n, the smallest k whose
    statsmodels interval has its lower bound above the threshold, and the
    binomial probability of reaching it."""
    cp = 'beta' if method == 'exact' else 'wilson'
    powers = []
    for n in range(1, max_n + 1):
        k = np.arange(n + 1)
        lower = proportion_confint(k, n, alpha=0.05, method=cp)[0]
        hits = np.flatnonzero(lower > threshold)
        powers.append(stats.binom.pmf(k[hits], n, true_value).sum())
    powers = np.array(powers)
    ok = np.flatnonzero(powers >= power)
    first = ok[0] + 1
    last_fail = np.flatnonzero(powers < power)[-1] + 1
    return first, last_fail + 1


# published settings: ASGE PIVI "diagnose and leave" threshold 0.90 (Rex et
# al., Gastrointest Endosc 2011;73:419-422) with the expected NPVs of
# Mori et al., Ann Intern Med 2018;169:357-366 (96.4% and 93.7%), and the
# PIVI "resect and discard" 90% agreement with an expected 95%
SETTINGS = [(0.964, 0.90, 0.8), (0.937, 0.90, 0.8), (0.95, 0.90, 0.9)]


@pytest.mark.parametrize('method', ['wilson', 'exact'])
@pytest.mark.parametrize('true_value,threshold,power', SETTINGS)
def test_proportion_sample_size_equals_exact_search(true_value, threshold,
                                                    power, method):
    res = proportion_sample_size(
        true_value, threshold, power, method=method, max_n=700)
    n, n_stable = brute_force(true_value, threshold, power, method, 700)
    assert (res['n'], res['n_stable']) == (n, n_stable)
    lo = proportion_confint(
        res['critical_k'],
        n,
        method='wilson' if method == 'wilson' else 'beta')[0]
    assert lo > threshold
    # statsmodels' normal (arcsine) power for a one-sample test lands near
    # (the exact answer saw-tooths around it)
    approx = NormalIndPower().solve_power(
        proportion_effectsize(true_value, threshold),
        alpha=0.025,
        power=power,
        ratio=0,
        alternative='larger')
    assert abs(res['n'] - approx) / approx < 0.2


def test_fraction_and_bad_inputs():
    res = proportion_sample_size(0.95, 0.90, fraction=0.25, max_n=700)
    assert res['lesions_total'] == int(np.ceil(res['n'] / 0.25))
    with pytest.raises(ValueError, match='threshold'):
        proportion_sample_size(0.9, 0.95)


def test_hanley_mcneil_variance_equals_simulation():
    """Q1 = A / (2 - A) and Q2 = 2 A^2 / (1 + A) are exact for exponential
    scores; the Mann-Whitney AUC's variance over simulated studies agrees."""
    rng = np.random.default_rng(0)
    auc, m, n, reps = 0.8, 30, 40, 4000
    neg = rng.exponential(1.0, (reps, n))
    pos = rng.exponential(1 / (1 / auc - 1), (reps, m))  # P(pos > neg) = A
    wins = (pos[:, :, None] > neg[:, None, :]).mean((1, 2))
    assert wins.mean() == pytest.approx(auc, abs=0.005)
    assert hanley_mcneil_variance(auc, m, n) == pytest.approx(
        wins.var(ddof=1), rel=0.08)


def test_auc_sample_size_is_the_smallest_design():
    res = auc_sample_size(0.90, 0.80, 0.8)
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)

    def need(m):
        return (za * np.sqrt(hanley_mcneil_variance(0.8, m, m)) +
                zb * np.sqrt(hanley_mcneil_variance(0.9, m, m)))

    m = res['positives']
    assert need(m) <= 0.1 < need(m - 1)
    assert res['negatives'] == m


def van_dyke_components():
    import pandas as pd
    path = osp.join(REPO, 'tests', 'data', 'van_dyke_roc_ratings.csv')
    df = pd.read_csv(path, comment='#', dtype={'ratings': str})
    ratings = np.zeros((2, 5, 114))
    for row in df.itertuples():
        ratings[row.modality, row.reader] = [int(c) for c in row.ratings]
    truth = np.r_[np.zeros(69, bool), np.ones(45, bool)]
    res = reader_fom(
        'auc', truth.astype(int), np.zeros_like(ratings), 1, scores=ratings)
    out = obuchowski_rockette(res['fom'], res['jackknife'])
    out['num_cases'] = 114
    return out


def test_mrmc_power_at_the_pilot_design_is_the_pilot_test():
    """Planned = pilot (5 readers, 114 cases, the observed difference): the
    noncentrality is the pilot's F and the ddf Hillis' (published OR-DBM
    MRMC output on the Van Dyke data: F = 4.46, ddf = 15.26)."""
    comp = van_dyke_components()
    diff = comp['modality_fom'][1] - comp['modality_fom'][0]
    res = mrmc_power(comp, 5, 114, diff)
    assert res['noncentrality'] == pytest.approx(4.46, abs=5e-3)
    assert res['ddf'] == pytest.approx(15.26, abs=5e-3)
    assert res['power'] == pytest.approx(
        stats.ncf.sf(
            stats.f.ppf(0.95, 1, res['ddf']), 1, res['ddf'],
            res['noncentrality']))
    rows = mrmc_sample_size(comp, 0.05, readers=[4, 8, 12])
    for r in rows:
        if r['cases'] is None:
            assert mrmc_power(comp, r['readers'], 20000, 0.05)['power'] < 0.8
            continue
        assert mrmc_power(comp, r['readers'], r['cases'], 0.05)['power'] >= 0.8
        assert mrmc_power(comp, r['readers'], r['cases'] - 1,
                          0.05)['power'] < 0.8
    cases = [r['cases'] for r in rows if r['cases']]
    assert cases == sorted(cases, reverse=True)  # more readers, fewer cases


def test_sample_size_cli(monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', [
        'sample_size.py', 'proportion', '--true', '0.95', '--threshold',
        '0.90', '--method', 'exact'
    ])
    runpy.run_path(
        osp.join(REPO, 'tools/analysis/sample_size.py'), run_name='__main__')
    n = proportion_sample_size(0.95, 0.90, method='exact')['n']
    assert capsys.readouterr().out.startswith(f'{n} lesions')
    monkeypatch.setattr(sys, 'argv', [
        'sample_size.py', 'proportion', '--true', '0.85', '--threshold', '0.9'
    ])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(
            osp.join(REPO, 'tools/analysis/sample_size.py'),
            run_name='__main__')
    assert exc.value.code == 2
    assert 'need 0 < threshold (0.9) < true value (0.85)' in \
        capsys.readouterr().err

# Copyright (c) ecdl_mm contributors. All rights reserved.
import numpy as np
import pytest
from scipy.stats import binomtest, chi2
from sklearn.metrics import recall_score

from ecdl_mm.evaluation.stats import (bootstrap_multiplicities, fleiss_kappa,
                                      mcnemar_test, pairwise_cohen_kappa,
                                      weighted_rates, wilson_interval)


def outcomes(b, c, both=5, neither=3):
    a = [1] * both + [1] * b + [0] * c + [0] * neither
    bb = [1] * both + [0] * b + [1] * c + [0] * neither
    return np.array(a, bool), np.array(bb, bool)


@pytest.mark.parametrize('b,c', [(7, 2), (0, 0), (20, 12), (3, 9)])
def test_mcnemar_exact_below_threshold_chi2_above(b, c):
    res = mcnemar_test(*outcomes(b, c), exact_below=25)
    assert (res['a_only'], res['b_only'], res['both'],
            res['neither']) == (b, c, 5, 3)
    if b + c < 25:
        assert res['method'] == 'exact'
        ref = binomtest(min(b, c), b + c, 0.5).pvalue if b + c else 1.0
    else:
        assert res['method'] == 'chi2'
        stat = (abs(b - c) - 1)**2 / (b + c)
        assert res['statistic'] == pytest.approx(stat)
        ref = chi2.sf(stat, 1)
    assert res['p_value'] == pytest.approx(ref, rel=1e-10)


def test_wilson_interval_formula():
    k, n, z = 7, 20, 1.959963984540054
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert wilson_interval(k, n) == pytest.approx(
        (centre - half, centre + half))
    assert np.isnan(wilson_interval(0, 0)).all()


def test_bootstrap_weights_and_rates_equal_explicit_resamples():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 3, 25)
    pred = np.where(rng.random(25) < 0.6, target, rng.integers(0, 3, 25))
    weights = np.concatenate(
        list(bootstrap_multiplicities(25, 30, seed=4, chunk=7)))
    assert weights.shape == (30, 25) and (weights.sum(1) == 25).all()
    # the same draws, as explicit index resamples
    draws = np.random.default_rng(4)
    idx = np.concatenate(
        [draws.integers(0, 25, (min(7, 30 - s), 25)) for s in range(0, 30, 7)])
    rates = weighted_rates(pred, target, weights, 3)
    for r in range(30):
        t, p = target[idx[r]], pred[idx[r]]
        np.testing.assert_array_equal(
            np.bincount(idx[r], minlength=25), weights[r])
        assert rates['accuracy'][r] == pytest.approx(np.mean(t == p))
        for k in range(3):
            if (t == k).any():
                assert rates['sensitivity'][r, k] == pytest.approx(
                    recall_score(t == k, p == k))
            else:
                assert np.isnan(rates['sensitivity'][r, k])
            assert rates['specificity'][r, k] == pytest.approx(
                recall_score(t != k, p != k))


def test_kappas_equal_hand_formulas():
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, 40)
    ratings = np.stack([
        np.where(rng.random(40) < q, truth, rng.integers(0, 3, 40))
        for q in (0.9, 0.7, 0.5, 0.6)
    ],
                       axis=1)
    # Fleiss (1971)
    n_r = ratings.shape[1]
    counts = np.stack([(ratings == k).sum(1) for k in range(3)], axis=1)
    p_i = ((counts**2).sum(1) - n_r) / (n_r * (n_r - 1))
    p_j = counts.sum(0) / counts.sum()
    ref = (p_i.mean() - (p_j**2).sum()) / (1 - (p_j**2).sum())
    assert fleiss_kappa(ratings, 3) == pytest.approx(ref, rel=1e-10)
    # Cohen (1960)
    kappa = pairwise_cohen_kappa(ratings, range(3))
    a, b = ratings[:, 0], ratings[:, 2]
    po = np.mean(a == b)
    pe = sum(np.mean(a == k) * np.mean(b == k) for k in range(3))
    assert kappa[0, 2] == pytest.approx((po - pe) / (1 - pe))
    assert kappa[2, 0] == kappa[0, 2] and kappa[1, 1] == 1.0
    with pytest.raises(ValueError, match='>= 2 readers'):
        fleiss_kappa(ratings[:, :1], 3)

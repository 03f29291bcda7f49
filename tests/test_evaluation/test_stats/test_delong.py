# Copyright (c) ecdl_mm contributors. All rights reserved.
import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from ecdl_mm.evaluation.metrics.lesion_metric import weighted_auc
from ecdl_mm.evaluation.stats import (delong_covariance, delong_test,
                                      paired_auc_tests, placement_values)


def brute_placements(score, positive):
    """O(m n) placement values by the definition (psi = 1, 1/2, 0)."""
    x, y = score[positive], score[~positive]
    psi = np.array([[1.0 if xi > yj else 0.5 if xi == yj else 0.0 for yj in y]
                    for xi in x])
    return psi.mean(), psi.mean(1), psi.mean(0)


def brute_delong_cov(scores, positive):
    """DeLong et al. (1988): S10 / m + S01 / n from brute placements."""
    v10, v01, auc = [], [], []
    for s in scores:
        a, p10, p01 = brute_placements(s, positive)
        auc.append(a)
        v10.append(p10)
        v01.append(p01)
    m, n = positive.sum(), (~positive).sum()
    s10 = np.cov(np.array(v10), ddof=1)
    s01 = np.cov(np.array(v01), ddof=1)
    return np.array(auc), np.atleast_2d(s10 / m + s01 / n)


@pytest.fixture
def tied_sample():
    rng = np.random.default_rng(3)
    positive = rng.random(47) < 0.4
    # rounded scores: many ties inside and across the classes
    a = np.round(rng.normal(size=47) + 0.8 * positive, 1)
    b = np.round(0.6 * a + rng.normal(size=47) * 0.8, 1)
    return positive, a, b


def test_placement_values_equal_brute_force(tied_sample):
    positive, a, b = tied_sample
    auc, v10, v01 = placement_values(np.stack([a, b]), positive)
    for k, s in enumerate((a, b)):
        ref_auc, ref10, ref01 = brute_placements(s, positive)
        assert auc[k] == pytest.approx(ref_auc, abs=1e-12)
        assert auc[k] == pytest.approx(roc_auc_score(positive, s), abs=1e-12)
        np.testing.assert_allclose(v10[k], ref10, atol=1e-12)
        np.testing.assert_allclose(v01[k], ref01, atol=1e-12)


def test_delong_covariance_and_test_equal_brute_force(tied_sample):
    positive, a, b = tied_sample
    auc, cov = delong_covariance(np.stack([a, b]), positive)
    ref_auc, ref_cov = brute_delong_cov([a, b], positive)
    np.testing.assert_allclose(auc, ref_auc, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, atol=1e-12)

    res = delong_test(positive, a, b)
    var = ref_cov[0, 0] + ref_cov[1, 1] - 2 * ref_cov[0, 1]
    z = (ref_auc[0] - ref_auc[1]) / np.sqrt(var)
    assert res['z'] == pytest.approx(z, rel=1e-10)
    assert res['p_value'] == pytest.approx(2 * norm.sf(abs(z)), rel=1e-10)
    half = norm.ppf(0.975) * np.sqrt(var)
    assert res['ci_lower'] == pytest.approx(z * np.sqrt(var) - half)
    assert res['ci_upper'] == pytest.approx(z * np.sqrt(var) + half)


def test_identical_scores_give_p_one():
    rng = np.random.default_rng(0)
    positive = rng.random(30) < 0.5
    s = rng.normal(size=30)
    res = delong_test(positive, s, s)
    assert res['difference'] == 0 and res['p_value'] == 1.0


def test_macro_auc_covariance_equals_brute_force_and_bootstrap():
    """The macro AUC difference: variance from the per-lesion placement
    deviations of every class (written out with loops here), and close to
    the variance of a lesion bootstrap on a large sample."""
    rng = np.random.default_rng(1)
    num, num_c = 600, 3
    target = rng.integers(0, num_c, num)
    base = rng.normal(size=(num, num_c)) + 1.0 * np.eye(num_c)[target]
    sa = base + rng.normal(size=(num, num_c)) * 0.5
    sb = base + rng.normal(size=(num, num_c)) * 0.9
    res = paired_auc_tests(target, sa, sb, num_c)

    # brute force: influence of each lesion on each class AUC of each model
    infl = np.zeros((2, num_c, num))
    aucs = np.zeros((2, num_c))
    for mi, s in enumerate((sa, sb)):
        for k in range(num_c):
            pos = target == k
            auc, v10, v01 = brute_placements(s[:, k], pos)
            aucs[mi, k] = auc
            m, n = pos.sum(), (~pos).sum()
            infl[mi, k, pos] = (v10 - auc) / np.sqrt(m * (m - 1))
            infl[mi, k, ~pos] = (v01 - auc) / np.sqrt(n * (n - 1))
    contrast = (infl[0] - infl[1]).mean(0)  # (num, ) macro difference
    var = np.sum(contrast**2)
    diff = aucs[0].mean() - aucs[1].mean()
    assert res['macro']['difference'] == pytest.approx(diff, abs=1e-12)
    assert res['macro']['se'] == pytest.approx(np.sqrt(var), rel=1e-10)
    for k in range(num_c):
        assert res[str(k)]['auc_a'] == pytest.approx(
            roc_auc_score(target == k, sa[:, k]))

    # the lesion bootstrap variance of the same difference
    w = rng.multinomial(num, np.full(num, 1 / num), size=2000).astype(float)
    boot = np.mean([
        weighted_auc(sa[:, k], target == k, w) -
        weighted_auc(sb[:, k], target == k, w) for k in range(num_c)
    ],
                   axis=0)
    assert res['macro']['se'] == pytest.approx(boot.std(ddof=1), rel=0.1)

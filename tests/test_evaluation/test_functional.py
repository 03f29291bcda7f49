# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The evaluation core against independent references: statsmodels'
proportion_confint, scikit-learn's calibration_curve / brier / log_loss, a
hand-computed ECE, a brute-force NLL grid and hand-counted thresholds."""
import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss
from statsmodels.stats.proportion import proportion_confint

from ecdl_mm.evaluation import functional as F
from ecdl_mm.evaluation.clinical.decisions import decision_table


def probs_of(n, c=3, seed=0, sharp=2.0):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + sharp * np.eye(c)[target]
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True), target


def test_zero_division_is_nan_everywhere():
    cm = np.array([[3, 0, 1], [0, 0, 0], [1, 0, 2]])
    r = F.confusion_rates(cm)
    assert np.isnan(r['sensitivity'][1]) and np.isnan(r['ppv'][1])
    assert r['sensitivity'][0] == pytest.approx(3 / 4)
    assert r['specificity'][1] == pytest.approx(1.0)  # 7 / 7 negatives
    assert F.nanmean_or_nan(r['sensitivity']) == pytest.approx(
        (3 / 4 + 2 / 3) / 2)


def test_lesion_intervals_are_statsmodels_wilson():
    for k, n in [(0, 3), (13, 13), (7, 20)]:
        lo, hi = F.proportion_interval(k, n, 0.95)
        ref = proportion_confint(k, n, alpha=0.05, method='wilson')
        assert (lo, hi) == pytest.approx(ref)
        assert hi - lo > 0.1  # never collapses, even at 0/3 and 13/13
    ref = proportion_confint(3, 9, alpha=0.1, method='beta')
    assert F.proportion_interval(3, 9, 0.9, 'beta') == pytest.approx(ref)


def test_clustered_interval_against_hand_design_effect():
    # 4 lesions of 3 images: outcomes perfectly shared within lesions
    clusters = np.repeat(np.arange(4), 3)
    succ = np.repeat([True, True, False, True], 3)
    counted = np.ones(12, bool)
    out = F.clustered_proportion_interval(succ, counted, clusters, 0.95)
    p = 0.75
    k_j, n_j = np.array([3, 3, 0, 3]), np.full(4, 3)
    deff = ((k_j - p * n_j)**2).sum() / (12 * p * (1 - p))
    assert deff == pytest.approx(3.0) and out['deff'] == pytest.approx(3.0)
    ref = proportion_confint(
        p * 12 / deff, 12 / deff, alpha=0.05, method='wilson')
    assert (out['ci_lower'], out['ci_upper']) == pytest.approx(ref)
    assert (out['k'], out['n']) == (9, 12)
    # one image per lesion: plain Wilson
    single = F.clustered_proportion_interval(succ, counted, np.arange(12))
    assert (single['ci_lower'], single['ci_upper']) == pytest.approx(
        proportion_confint(9, 12, alpha=0.05, method='wilson'))
    # all right: the images of a lesion count as one (n_eff = lesions)
    every = F.clustered_proportion_interval(
        np.ones(12, bool), counted, clusters)
    assert every['n_eff'] == pytest.approx(4)
    assert every['ci_lower'] == pytest.approx(
        proportion_confint(4, 4, alpha=0.05, method='wilson')[0])
    assert every['ci_upper'] - every['ci_lower'] > 0.3


def test_ece_and_bins_equal_hand_and_sklearn():
    p, t = probs_of(300, seed=1)
    conf, correct = p.max(1), p.argmax(1) == t
    b = F.reliability_bins(conf, correct, 15)
    full = b['count'] > 0
    prob_true, prob_pred = calibration_curve(
        correct, conf, n_bins=15, strategy='uniform')
    np.testing.assert_allclose(b['accuracy'][full], prob_true)
    np.testing.assert_allclose(b['confidence'][full], prob_pred)
    # hand: loop over 15 bins (a, b], the first [0, b]
    edges = np.linspace(0, 1, 16)
    ece = 0.0
    for i in range(15):
        inside = (conf > edges[i]) & (conf <= edges[i + 1])
        if i == 0:
            inside |= conf == 0
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() -
                                       conf[inside].mean())
    cal = F.calibration_metrics(p, t)
    assert cal['ece'] == pytest.approx(ece)
    classwise = np.mean([F.binned_ece(p[:, k], t == k) for k in range(3)])
    assert cal['ece_classwise'] == pytest.approx(classwise)
    assert cal['nll'] == pytest.approx(log_loss(t, p, labels=[0, 1, 2]))
    assert cal['brier'] == pytest.approx(((p - np.eye(3)[t])**2).sum(1).mean())


def test_temperature_fit_agrees_with_brute_force_grid():
    p, t = probs_of(400, seed=2, sharp=4.0)
    # over-confident: sharpen the probabilities
    over = F.temperature_scale(p, 0.4)
    temp = F.fit_temperature(over, t)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 20001))
    logp = np.log(over)
    nll = []
    for g in grid:
        z = logp / g
        z = z - z.max(1, keepdims=True)
        nll.append((np.log(np.exp(z).sum(1)) - z[np.arange(len(t)), t]).mean())
    best = grid[int(np.argmin(nll))]
    assert temp == pytest.approx(best, rel=2e-3)
    # sharpening by 0.4 is undone exactly: T(over) = T(p) / 0.4
    assert temp == pytest.approx(F.fit_temperature(p, t) / 0.4, rel=1e-3)
    assert F.calibration_metrics(F.temperature_scale(over, temp),
                                 t)['nll'] <= F.calibration_metrics(over,
                                                                    t)['nll']


def test_thresholds_meet_targets_at_largest_coverage():
    p, t = probs_of(200, seed=3, sharp=1.5)
    conf, pred = p.max(1), p.argmax(1)
    targets = [
        F.parse_target('accuracy=0.85', ['a', 'b', 'c']),
        F.parse_target('npv:c=0.8', ['a', 'b', 'c'])
    ]
    thr = F.abstention_threshold(conf, pred, t, targets)
    acc = conf >= thr
    assert np.mean(pred[acc] == t[acc]) >= 0.85
    assert np.mean(t[acc & (pred == 2)] == 2) >= 0.8
    # brute force: no lower threshold (more coverage) meets both
    for lower in np.unique(conf[conf < thr]):
        a = conf >= lower
        met = (
            np.mean(pred[a] == t[a]) >= 0.85
            and np.mean(t[a & (pred == 2)] == 2) >= 0.8)
        assert not met
    # a target no threshold meets: None (all lesions wrong)
    assert F.abstention_threshold([0.9, 0.8], [0, 0], [1, 1],
                                  [('accuracy', -1, 0.5)]) is None
    with pytest.raises(ValueError, match="class 'd' is not one of"):
        F.parse_target('sensitivity:d=0.9', ['a', 'b', 'c'])
    with pytest.raises(ValueError, match='KIND=VALUE'):
        F.parse_target('accuracy:0.9', ['a'])


def test_risk_coverage_and_aurc_by_hand():
    conf = np.array([0.9, 0.8, 0.8, 0.6, 0.5])
    correct = np.array([True, False, True, True, False])
    rc = F.risk_coverage(conf, correct)
    np.testing.assert_allclose(rc['coverage'], [0.2, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(rc['risk'], [0, 1 / 3, 1 / 4, 2 / 5])
    # sizes 1..5: risks 0, 1/3 (tie enters together), 1/3, 1/4, 2/5
    assert rc['aurc'] == pytest.approx(
        np.mean([0, 1 / 3, 1 / 3, 1 / 4, 2 / 5]))


def test_decision_table_counts_by_hand():
    classes = ['adenomas', 'invasive_cancer', 'non-neoplastic']
    target = np.array([2, 2, 2, 0, 0, 1, 1, 2])
    pred = np.array([2, 2, 0, 2, 0, 1, 0, 2])
    unc = np.array([0, 0, 0, 0, 0, 0, 0, 1], bool)
    tab = decision_table(pred, target, classes, uncertain=unc)
    leave = tab['rows'][0]
    assert leave['action'] == 'leave in situ'
    assert leave['counts'] == {
        'adenomas': 1,
        'invasive_cancer': 0,
        'non-neoplastic': 2
    }
    npv = tab['leave_npv']
    assert (npv['k'], npv['n']) == (2, 3) and npv['flag']
    assert npv['ci_lower'] == pytest.approx(
        proportion_confint(2, 3, alpha=0.05, method='wilson')[0])
    miss = tab['miss_rate']['invasive_cancer']
    assert (miss['k'], miss['n']) == (1, 2)
    assert tab['num_deferred'] == 1
    assert tab['rows'][-1]['counts']['non-neoplastic'] == 1
    assert decision_table(pred, target, ['a', 'b', 'c']) is None

# Copyright (c) ecdl_mm contributors. All rights reserved.
import itertools
import os.path as osp

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from ecdl_mm.evaluation.stats import (jackknife_ratio, obuchowski_rockette,
                                      reader_fom)

DATA = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'data',
    'van_dyke_roc_ratings.csv')


def van_dyke():
    df = pd.read_csv(DATA, comment='#', dtype={'ratings': str})
    ratings = np.zeros((2, 5, 114))
    for row in df.itertuples():
        ratings[row.modality, row.reader] = [int(c) for c in row.ratings]
    truth = np.r_[np.zeros(69, bool), np.ones(45, bool)]
    return ratings, truth


def test_van_dyke_equals_iowa_or_dbm_mrmc():
    """Published output of OR-DBM MRMC 2.51 (trapezoidal AUC, jackknife
    covariances) on the Van Dyke data."""
    ratings, truth = van_dyke()
    # AUC per class 1 ("dissection"): scores = ratings
    res = reader_fom(
        'auc', truth.astype(int), np.zeros_like(ratings), 1, scores=ratings)
    np.testing.assert_allclose(
        res['fom'],
        [[0.91964573, 0.85877617, 0.90386473, 0.97310789, 0.82979066],
         [0.94782609, 0.90531401, 0.92173913, 0.99935588, 0.92995169]],
        atol=5e-9)
    out = obuchowski_rockette(res['fom'], res['jackknife'])
    assert out['modality_fom'] == pytest.approx([0.89703704, 0.94083736],
                                                abs=5e-9)
    assert out['ms_t'] == pytest.approx(0.00479617, abs=5e-9)
    assert out['ms_r'] == pytest.approx(0.00383620, abs=5e-9)
    assert out['ms_tr'] == pytest.approx(0.00055103, abs=5e-9)
    assert out['var'] == pytest.approx(0.00080229, abs=5e-9)
    assert out['cov1'] == pytest.approx(0.00034661, abs=5e-9)
    assert out['cov2'] == pytest.approx(0.00034407, abs=5e-9)
    assert out['cov3'] == pytest.approx(0.00023903, abs=5e-9)
    rr = out['rrrc']
    assert rr['error_term'] == pytest.approx(0.00107626, abs=5e-9)
    assert rr['f'] == pytest.approx(4.46, abs=5e-3)
    assert rr['df2'] == pytest.approx(15.26, abs=5e-3)
    assert rr['p_value'] == pytest.approx(0.0517, abs=5e-5)
    d = rr['differences'][0]  # Iowa reports 1 - 2; ours is 2 - 1
    assert d['difference'] == pytest.approx(0.04380, abs=5e-6)
    assert d['se'] == pytest.approx(0.02075, abs=5e-6)
    assert (d['ci_lower'], d['ci_upper']) == pytest.approx((-0.00036, 0.08796),
                                                           abs=5e-6)
    fr = out['frrc']
    assert fr['chi2'] == pytest.approx(5.47595, abs=5e-6)
    assert fr['p_value'] == pytest.approx(0.0193, abs=5e-5)
    assert (fr['differences'][0]['ci_lower'],
            fr['differences'][0]['ci_upper']) == pytest.approx(
                (0.00711, 0.08049), abs=5e-6)
    rf = out['rrfc']
    assert rf['f'] == pytest.approx(8.70, abs=5e-3)
    assert rf['p_value'] == pytest.approx(0.0420, abs=5e-5)


def brute_or(theta, jk):
    """OR-DBM RRRC by the formulas of Hillis (2007), written with loops."""
    t, r, c = jk.shape
    cov = {}
    for (i, j), (i2, j2) in itertools.product(
            itertools.product(range(t), range(r)), repeat=2):
        a, b = jk[i, j], jk[i2, j2]
        cov[(i, j, i2, j2)] = (c - 1) / c * sum(
            (a[k] - a.mean()) * (b[k] - b.mean()) for k in range(c))

    def avg(cond):
        vals = [v for (i, j, i2, j2), v in cov.items() if cond(i, j, i2, j2)]
        return sum(vals) / len(vals)

    var = avg(lambda i, j, i2, j2: i == i2 and j == j2)
    cov1 = avg(lambda i, j, i2, j2: i != i2 and j == j2)
    cov2 = avg(lambda i, j, i2, j2: i == i2 and j != j2)
    cov3 = avg(lambda i, j, i2, j2: i != i2 and j != j2)
    grand = theta.mean()
    ms_t = r / (t - 1) * sum((theta[i].mean() - grand)**2 for i in range(t))
    ms_tr = sum((theta[i, j] - theta[i].mean() - theta[:, j].mean() + grand)**2
                for i in range(t) for j in range(r)) / ((t - 1) * (r - 1))
    den = ms_tr + r * max(cov2 - cov3, 0)
    f = ms_t / den
    ddf = den**2 / (ms_tr**2 / ((t - 1) * (r - 1)))
    return dict(
        var=var,
        cov1=cov1,
        cov2=cov2,
        cov3=cov3,
        ms_t=ms_t,
        ms_tr=ms_tr,
        f=f,
        ddf=ddf,
        p=stats.f.sf(f, t - 1, ddf))


@pytest.fixture
def study():
    """3 modalities, 4 readers, 30 cases with 3 classes and confidences."""
    rng = np.random.default_rng(7)
    c, r, t = 30, 4, 3
    target = rng.integers(0, 3, c)
    right = rng.random((t, r, c)) < np.array([0.55, 0.7, 0.8])[:, None, None]
    other = (target + rng.integers(1, 3, (t, r, c))) % 3
    diag = np.where(right, target, other)
    conf = rng.integers(1, 6, (t, r, c)).astype(float)
    return target, diag, conf


@pytest.mark.parametrize('kind,k', [('accuracy', None), ('sensitivity', 1),
                                    ('specificity', 2), ('auc', 0)])
def test_jackknife_and_or_equal_brute_force(study, kind, k):
    target, diag, conf = study
    t, r, c = diag.shape
    scores = np.where(diag == (k or 0), conf, -conf)

    def fom(tg, dg, sc):
        if kind == 'accuracy':
            return np.mean(dg == tg)
        if kind == 'sensitivity':
            return np.mean(dg[tg == k] == k)
        if kind == 'specificity':
            return np.mean(dg[tg != k] != k)
        return roc_auc_score(tg == k, sc)

    theta = np.array(
        [[fom(target, diag[i, j], scores[i, j]) for j in range(r)]
         for i in range(t)])
    jk = np.array([[[
        fom(
            np.delete(target, q), np.delete(diag[i, j], q),
            np.delete(scores[i, j], q)) for q in range(c)
    ] for j in range(r)] for i in range(t)])
    res = reader_fom(kind, target, diag, k, scores=scores)
    np.testing.assert_allclose(res['fom'], theta, atol=1e-12)
    np.testing.assert_allclose(res['jackknife'], jk, atol=1e-12)

    out = obuchowski_rockette(res['fom'], res['jackknife'])
    ref = brute_or(theta, jk)
    for key in ('var', 'cov1', 'cov2', 'cov3', 'ms_t', 'ms_tr'):
        assert out[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-15), key
    assert out['rrrc']['f'] == pytest.approx(ref['f'], rel=1e-9)
    assert out['rrrc']['df2'] == pytest.approx(ref['ddf'], rel=1e-9)
    assert out['rrrc']['p_value'] == pytest.approx(ref['p'], rel=1e-9)


def test_identical_modalities_give_f_zero_p_one(study):
    target, diag, _ = study
    same = np.stack([diag[0], diag[0]])
    res = reader_fom('accuracy', target, same)
    out = obuchowski_rockette(res['fom'], res['jackknife'])
    assert out['rrrc']['f'] == 0.0
    assert out['rrrc']['p_value'] == pytest.approx(1.0)
    assert out['frrc']['p_value'] == pytest.approx(1.0)
    assert out['rrrc']['differences'][0]['difference'] == 0.0


def test_huge_effect_gives_small_p():
    rng = np.random.default_rng(2)
    c, r = 80, 5
    target = rng.integers(0, 3, c)
    wrong = (target + 1) % 3
    before = np.where(rng.random((r, c)) < 0.4, target, wrong)
    after = np.where(rng.random((r, c)) < 0.95, target, wrong)
    res = reader_fom('accuracy', target, np.stack([before, after]))
    out = obuchowski_rockette(res['fom'], res['jackknife'])
    assert out['rrrc']['p_value'] < 1e-4
    assert out['rrrc']['differences'][0]['ci_lower'] > 0.3


def test_jackknife_ratio_and_errors():
    a = np.array([1., 0., 0., 1.])
    b = np.array([1., 1., 0., 1.])
    np.testing.assert_allclose(
        jackknife_ratio(a, b), [1 / 2, 2 / 2, 2 / 3, 1 / 2])
    jk = np.zeros((2, 1, 5))
    with pytest.raises(ValueError, match='>= 2 readers'):
        obuchowski_rockette(np.zeros((2, 1)), jk)
    with pytest.raises(ValueError, match='>= 2 modalities'):
        obuchowski_rockette(np.zeros((1, 3)), np.zeros((1, 3, 5)))
    jk = np.zeros((2, 2, 5))
    jk[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match='undefined'):
        obuchowski_rockette(np.zeros((2, 2)), jk)

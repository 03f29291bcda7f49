# Copyright (c) ecdl_mm contributors. All rights reserved.
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, norm
from sklearn.metrics import recall_score, roc_auc_score

from ecdl_mm.evaluation.clinical import (StudyDataError, compare_models,
                                         load_lesion_predictions)
from ecdl_mm.evaluation.clinical.model_comparison import bootstrap_metrics


def brute_delong_p(target, k, sa, sb):
    """DeLong z-test of one class AUC by explicit placement loops."""
    pos = target == k
    v = []
    for s in (sa[:, k], sb[:, k]):
        x, y = s[pos], s[~pos]
        psi = (x[:, None] > y[None]) + 0.5 * (x[:, None] == y[None])
        v.append((psi.mean(), psi.mean(1), psi.mean(0)))
    m, n = pos.sum(), (~pos).sum()
    s10 = np.cov(np.stack([v[0][1], v[1][1]]))
    s01 = np.cov(np.stack([v[0][2], v[1][2]]))
    cov = s10 / m + s01 / n
    z = (v[0][0] - v[1][0]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return 2 * norm.sf(abs(z))


def test_every_statistic_against_independent_computations(three_models):
    preds = [load_lesion_predictions(f) for f in three_models]
    res = compare_models(preds, ['A', 'B', 'C'], bootstrap_rounds=200)
    assert res['num_lesions'] == 60
    assert res['class_counts'] == dict(
        adenomas=20, invasive_cancer=20, **{'non-neoplastic': 20})
    # C's file is in reverse order: align on lesion ids
    ref = {}
    for name, f in zip('ABC', three_models):
        df = pd.read_csv(f).sort_values('lesion_id')
        ref[name] = (df['gt_label'].to_numpy(),
                     df[[c for c in df if c.startswith('prob_')
                         ]].to_numpy(), df['pred_label'].to_numpy())
    rows = {
        (r['model_a'], r['model_b'], r['metric']): r
        for r in res['comparisons']
    }
    assert len(rows) == 3 * 11
    for a, b in (('A', 'B'), ('A', 'C'), ('B', 'C')):
        t, sa, pa = ref[a]
        _, sb, pb = ref[b]
        r = rows[(a, b, 'accuracy')]
        assert r['value_a'] == pytest.approx(np.mean(pa == t))
        assert r['difference'] == pytest.approx(
            np.mean(pa == t) - np.mean(pb == t))
        only_a = int(np.sum((pa == t) & (pb != t)))
        only_b = int(np.sum((pa != t) & (pb == t)))
        assert (r['a_only'], r['b_only']) == (only_a, only_b)
        if only_a + only_b < 25:
            p = binomtest(min(only_a, only_b), only_a + only_b).pvalue
            assert r['test'] == 'McNemar exact'
        else:
            from scipy.stats import chi2
            p = chi2.sf((abs(only_a - only_b) - 1)**2 / (only_a + only_b), 1)
            assert r['test'] == 'McNemar chi2'
        assert r['p_value'] == pytest.approx(p, rel=1e-9)
        for k, c in enumerate(res['classes']):
            r = rows[(a, b, f'sensitivity_{c}')]
            assert r['value_a'] == pytest.approx(recall_score(t == k, pa == k))
            r = rows[(a, b, f'specificity_{c}')]
            assert r['value_b'] == pytest.approx(recall_score(t != k, pb != k))
            r = rows[(a, b, f'auc_{c}')]
            assert r['value_a'] == pytest.approx(
                roc_auc_score(t == k, sa[:, k]))
            assert r['test'] == 'DeLong'
            assert r['p_value'] == pytest.approx(
                brute_delong_p(t, k, sa, sb), rel=1e-9)
        r = rows[(a, b, 'auc_macro')]
        assert r['value_a'] == pytest.approx(
            roc_auc_score(t, sa, multi_class='ovr', average='macro'))
    # Holm within each pair's family of 11 tests, written out by hand:
    # sorted p_(i) times (m - i + 1), running maximum, capped at 1.
    for a, b in (('A', 'B'), ('A', 'C'), ('B', 'C')):
        fam = [r for k, r in rows.items() if k[:2] == (a, b)]
        order = sorted(fam, key=lambda r: r['p_value'])
        running = 0.
        for i, r in enumerate(order):
            running = max(running, min(1., (len(fam) - i) * r['p_value']))
            assert r['p_holm'] == pytest.approx(running, rel=1e-12)
            assert r['p_holm'] >= r['p_value']
    # strong vs weak model: every AUC difference clearly positive
    assert rows[('A', 'C', 'auc_macro')]['p_value'] < 1e-6
    assert rows[('A', 'C', 'auc_macro')]['ci_lower'] > 0


def test_paired_bootstrap_equals_explicit_resamples(three_models):
    preds = [load_lesion_predictions(f) for f in three_models[:2]]
    boots = bootstrap_metrics(preds, rounds=12, seed=3)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 60, size=(12, 60))
    for r in range(12):
        for p, boot in zip(preds, boots):
            t, s, y = p.target[idx[r]], p.scores[idx[r]], p.pred[idx[r]]
            assert boot['accuracy'][r] == pytest.approx(np.mean(t == y))
            aucs = [roc_auc_score(t == k, s[:, k]) for k in range(3)]
            assert boot['auc_invasive_cancer'][r] == pytest.approx(aucs[1])
            assert boot['auc_macro'][r] == pytest.approx(np.mean(aucs))
            assert boot['specificity_adenomas'][r] == pytest.approx(
                recall_score(t != 0, y != 0))
    res = compare_models(preds, ['A', 'B'], bootstrap_rounds=12, seed=3)
    row = [r for r in res['comparisons'] if r['metric'] == 'accuracy'][0]
    diff = boots[0]['accuracy'] - boots[1]['accuracy']
    assert (row['ci_lower'], row['ci_upper']) == pytest.approx(
        tuple(np.percentile(diff, [2.5, 97.5])))


def test_named_errors(three_models, tmp_path):
    from helpers.clinical import CLASSES, write_lesion_csv
    a = load_lesion_predictions(three_models[0])
    df = pd.read_csv(three_models[1], dtype={'lesion_id': str})
    df.drop(index=[4, 7]).to_csv(tmp_path / 'short.csv', index=False)
    with pytest.raises(
            StudyDataError,
            match=r"short.*lacks 2 lesion\(s\) of A.*'L004', "
            "'L007'"):
        compare_models([a, load_lesion_predictions(tmp_path / 'short.csv')],
                       ['A', 'short'])
    with pytest.raises(
            StudyDataError, match=r"^short .* lacks 2 lesion\(s\) of A"):
        compare_models([load_lesion_predictions(tmp_path / 'short.csv'), a],
                       ['short', 'A'])
    flipped = df.copy()
    flipped.loc[3, ['gt_label', 'gt_class']] = [1, CLASSES[1]]
    flipped.to_csv(tmp_path / 'flipped.csv', index=False)
    with pytest.raises(
            StudyDataError,
            match=r"labels disagree .* 1 lesion\(s\): L003 "
            r"\(adenomas vs invasive_cancer\)"):
        compare_models(
            [a, load_lesion_predictions(tmp_path / 'flipped.csv')],
            ['A', 'flipped'])
    bad = df.copy()
    bad.loc[5, 'gt_class'] = 'adenoma'
    bad.to_csv(tmp_path / 'bad.csv', index=False)
    with pytest.raises(
            StudyDataError,
            match=r"bad.csv line 7: unknown class name 'adenoma'"):
        load_lesion_predictions(tmp_path / 'bad.csv')
    dup = pd.concat([df, df.iloc[[2]]])
    dup.to_csv(tmp_path / 'dup.csv', index=False)
    with pytest.raises(StudyDataError, match=r"more than once: 'L002'"):
        load_lesion_predictions(tmp_path / 'dup.csv')
    two = write_lesion_csv(
        tmp_path / 'two.csv', ['L000'], [0], [[0.6, 0.4]], classes=CLASSES[:2])
    with pytest.raises(
            StudyDataError, match='has classes adenomas, '
            'invasive_cancer but A'):
        compare_models([a, load_lesion_predictions(two)], ['A', 'two'])
    with pytest.raises(StudyDataError, match='not found'):
        load_lesion_predictions(tmp_path / 'nope.csv')


def test_model_rates_get_wilson_with_counts(three_models):
    from statsmodels.stats.proportion import proportion_confint
    preds = [load_lesion_predictions(f) for f in three_models[:2]]
    res = compare_models(preds, ['A', 'B'], bootstrap_rounds=50)
    rows = {(r['model'], r['metric']): r for r in res['model_metrics']}
    df = pd.read_csv(three_models[1])
    pos = df.gt_label == 2
    k, n = int((df.pred_label[pos] == 2).sum()), int(pos.sum())
    row = rows[('B', 'sensitivity_non-neoplastic')]
    assert (row['k'], row['n'], row['interval']) == (k, n, 'Wilson')
    assert (row['ci_lower'], row['ci_upper']) == pytest.approx(
        proportion_confint(k, n, method='wilson'))
    assert rows[('A', 'auc_macro')]['interval'] == 'bootstrap'

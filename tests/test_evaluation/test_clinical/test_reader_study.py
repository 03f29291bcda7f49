# Copyright (c) ecdl_mm contributors. All rights reserved.
import numpy as np
import pandas as pd
import pytest
from helpers.clinical import CLASSES, READERS, make_study
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score, recall_score, roc_auc_score

from ecdl_mm.evaluation.clinical import (StudyDataError, consensus,
                                         load_lesion_predictions, load_readers,
                                         run_reader_study)
from ecdl_mm.evaluation.stats import obuchowski_rockette


def mcnemar_p(right_a, right_b):
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    assert b + c < 25  # exact test range of these small studies
    return binomtest(min(b, c), b + c).pvalue if b + c else 1.0


def wilson(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def test_reader_study_against_independent_computations(tmp_path):
    model_csv, readers_csv, df, target = make_study(tmp_path)
    model = load_lesion_predictions(model_csv)
    reads = load_readers(readers_csv, model)
    res = run_reader_study(model, reads, bootstrap_rounds=100)
    assert res['compared_sessions'] == ['unassisted', 'assisted']
    assert res['num_lesions'] == 36
    mdf = pd.read_csv(model_csv).iloc[:36]
    m_pred = mdf['pred_label'].to_numpy()
    m_scores = mdf[[f'prob_{c}' for c in CLASSES]].to_numpy()
    idx = {c: k for k, c in enumerate(CLASSES)}

    def diag_of(reader, session):
        sel = df[(df.reader_id == reader) & (df.session == session)]
        return sel['diagnosis'].map(idx).to_numpy()

    def conf_of(reader, session):
        sel = df[(df.reader_id == reader) & (df.session == session)]
        return sel['confidence'].to_numpy(float)

    # each reader: rates and Wilson intervals
    for row in res['reader_metrics']:
        d = diag_of(row['reader'], row['session'])
        if row['metric'] == 'accuracy':
            ref, k_ok = np.mean(d == target), np.sum(d == target)
            n = len(d)
        else:
            kind, cls = row['metric'].split('_', 1)
            k = idx[cls]
            if kind == 'sensitivity':
                ref = recall_score(target == k, d == k)
                k_ok, n = np.sum((d == k) & (target == k)), np.sum(target == k)
            else:
                ref = recall_score(target != k, d != k)
                k_ok, n = np.sum((d != k) & (target != k)), np.sum(target != k)
        assert row['value'] == pytest.approx(ref)
        assert (row['ci_lower'],
                row['ci_upper']) == pytest.approx(wilson(k_ok, n))
    # group means
    for row in res['group_metrics']:
        names = [
            r for r, g in READERS.items() if row['group'] in (g, 'all readers')
        ]
        vals = [
            r['value'] for r in res['reader_metrics'] if r['reader'] in names
            and r['session'] == row['session'] and r['metric'] == row['metric']
        ]
        assert row['num_readers'] == len(names)
        assert row['value'] == pytest.approx(np.mean(vals))
    # the model
    model_rows = {r['metric']: r for r in res['model']}
    assert model_rows['accuracy']['value'] == pytest.approx(
        np.mean(m_pred == target))
    for k, c in enumerate(CLASSES):
        assert model_rows[f'auc_{c}']['value'] == pytest.approx(
            roc_auc_score(target == k, m_scores[:, k]))
    # model against each reader, and against the group consensus
    for row in res['model_vs_readers']:
        if row['metric'] != 'accuracy':
            continue
        if row['versus'] == 'reader':
            d = diag_of(row['name'], row['session'])
        else:
            names = [
                r for r, g in READERS.items()
                if row['name'] in (g, 'all readers')
            ]
            ds = np.stack([diag_of(r, row['session']) for r in names])
            cs = np.stack([conf_of(r, row['session']) for r in names])
            d = np.array([
                max(range(3),
                    key=lambda k:
                    (np.sum(ds[:, i] == k), cs[ds[:, i] == k, i].sum(), -k))
                for i in range(36)
            ])
        assert row['p_value'] == pytest.approx(
            mcnemar_p(m_pred == target, d == target), rel=1e-9)
    # assisted against unassisted: each reader, then MRMC
    for row in res['session_comparison']:
        if row['metric'] == 'accuracy':
            before = diag_of(row['reader'], 'unassisted') == target
            after = diag_of(row['reader'], 'assisted') == target
            assert row['difference'] == pytest.approx(after.mean() -
                                                      before.mean())
            assert row['p_value'] == pytest.approx(
                mcnemar_p(after, before), rel=1e-9)
    mrmc = {(r['group'], r['fom']): r for r in res['mrmc']}
    for group, fom in (('all readers',
                        'accuracy'), ('novice', 'sensitivity_invasive_cancer'),
                       ('expert', 'auc_non-neoplastic')):
        names = [r for r, g in READERS.items() if group in (g, 'all readers')]

        def fom_of(d, conf, keep):
            t = target[keep]
            if fom == 'accuracy':
                return np.mean(d[keep] == t)
            if fom.startswith('sensitivity'):
                return np.mean(d[keep][t == 1] == 1)
            score = np.where(d == 2, conf, -conf)[keep]
            return roc_auc_score(t == 2, score)

        theta = np.zeros((2, len(names)))
        jk = np.zeros((2, len(names), 36))
        for i, s in enumerate(('unassisted', 'assisted')):
            for j, r in enumerate(names):
                d, conf = diag_of(r, s), conf_of(r, s)
                theta[i, j] = fom_of(d, conf, np.ones(36, bool))
                for q in range(36):
                    jk[i, j, q] = fom_of(d, conf, np.arange(36) != q)
        ref = obuchowski_rockette(theta, jk)
        row = mrmc[(group, fom)]
        np.testing.assert_allclose(row['reader_fom'], theta)
        assert row['f'] == pytest.approx(ref['rrrc']['f'])
        assert row['df2'] == pytest.approx(ref['rrrc']['df2'])
        assert row['p_value'] == pytest.approx(ref['rrrc']['p_value'])
        assert row['difference'] == pytest.approx(theta[1].mean() -
                                                  theta[0].mean())
    # agreement
    for a in res['agreement']:
        ds = np.stack([diag_of(r, a['session']) for r in READERS], axis=1)
        counts = np.stack([(ds == k).sum(1) for k in range(3)], axis=1)
        p_i = ((counts**2).sum(1) - 5) / 20
        p_j = counts.sum(0) / counts.sum()
        fleiss = (p_i.mean() - (p_j**2).sum()) / (1 - (p_j**2).sum())
        assert a['fleiss'][-1]['group'] == 'all readers'
        assert a['fleiss'][-1]['kappa'] == pytest.approx(fleiss)
        assert a['cohen_names'] == list(READERS) + ['model']
        assert a['cohen'][0][5] == pytest.approx(
            cohen_kappa_score(ds[:, 0], m_pred))


def test_consensus_ties():
    diag = np.array([[0, 1, 2], [1, 1, 2], [0, 2, 0], [1, 0, 1]])
    conf = np.array([[5, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]], float)
    out, tied = consensus(diag, conf, 3)
    # lesion 0: classes 0 and 1 tie 2-2, class 0 has more confidence (6
    # vs 2); lesion 1: class 1 wins 2-1-1; lesion 2: class 2 wins 2-1-1
    assert out.tolist() == [0, 1, 2] and tied == 1
    conf[0, 0] = 1  # now 2 vs 2: the lower class index
    assert consensus(diag, conf, 3)[0].tolist() == [0, 1, 2]
    diag[:, 0] = [1, 0, 1, 0]
    assert consensus(diag, None, 3)[0].tolist() == [0, 1, 2]
    conf[1, 0] = 3  # a reader of class 0 is surer
    assert consensus(diag, conf, 3)[0].tolist() == [0, 1, 2]
    conf[0, 0] = 4  # now class 1 has more summed confidence
    assert consensus(diag, conf, 3)[0].tolist() == [1, 1, 2]


def test_named_errors(tmp_path):
    model_csv, readers_csv, df, _ = make_study(tmp_path, num=12)
    model = load_lesion_predictions(model_csv)

    def fails(frame, match, **kwargs):
        path = tmp_path / 'bad.csv'
        frame.to_csv(path, index=False)
        with pytest.raises(StudyDataError, match=match):
            reads = load_readers(str(path), model)
            run_reader_study(model, reads, bootstrap_rounds=10, **kwargs)

    bad = df.copy()
    bad.loc[3, 'diagnosis'] = 'adenoma'
    fails(bad, r"bad.csv line 5: unknown class name 'adenoma' in diagnosis")
    fails(
        pd.concat([df, df.iloc[[7]]]),
        r"reader 'E1' has duplicate rows for lesion 'L7' in session "
        r"'unassisted' \(lines \[9, 122\]")
    bad = df.copy()
    bad.loc[bad.lesion_id == 'L2', 'lesion_id'] = 'X9'
    fails(bad, r"1 lesion\(s\) missing from the model predictions .*'X9'")
    fails(
        df.drop(index=[30, 31]),
        r"reader 'E2' did not read 2 lesion\(s\) in session 'unassisted'"
        r".*: 'L6', 'L7'")
    one = df[df.session == 'unassisted']
    fails(
        one, r"session 'assisted' is not in .*bad.csv \(its sessions: "
        r"unassisted\)",
        sessions=('unassisted', 'assisted'))
    fails(df[~((df.reader_id == 'N1') & (df.session == 'assisted'))],
          r"'N1' has no 'assisted' session")
    bad = df.copy()
    bad.loc[bad.index[:3], 'group'] = 'novice'
    fails(bad, r"reader 'E1' is in several groups")
    fails(df.drop(columns='session'), r"lacks column\(s\) session")
    bad = df.copy().astype({'confidence': object})
    bad.loc[4, 'confidence'] = 'high'
    fails(bad, r"line 6: confidence 'high' is not a number")
    fails(
        df.drop(columns='confidence'),
        r"'auc' needs a confidence column",
        foms=['auc'])
    # a single session and no comparison asked: fine, no MRMC rows
    one.to_csv(tmp_path / 'one.csv', index=False)
    res = run_reader_study(
        model,
        load_readers(str(tmp_path / 'one.csv'), model),
        bootstrap_rounds=10)
    assert res['compared_sessions'] is None and res['mrmc'] == []


def test_undefined_mrmc_fom_is_reported_not_dropped(tmp_path):
    # one non-neoplastic lesion among those read: its sensitivity has no
    # leave-one-out value
    target = np.array([0, 1] * 8 + [2] + [0, 1, 2, 2])
    model_csv, readers_csv, _, _ = make_study(tmp_path, num=17, target=target)
    model = load_lesion_predictions(model_csv)
    res = run_reader_study(
        model,
        load_readers(readers_csv, model),
        foms=['sensitivity'],
        bootstrap_rounds=10)
    rows = {(r['group'], r['fom']): r for r in res['mrmc']}
    assert 'undefined' in rows[('all readers',
                                'sensitivity_non-neoplastic')]['error']
    assert 'p_value' in rows[('all readers', 'sensitivity_adenomas')]

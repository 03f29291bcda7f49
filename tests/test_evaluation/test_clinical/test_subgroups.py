# Copyright (c) ecdl_mm contributors. All rights reserved.
import json
import os.path as osp
import re
import runpy
import sys

import numpy as np
import pandas as pd
import pytest
from helpers.clinical import CLASSES, synthetic_scores, write_lesion_csv
from scipy.stats import chi2_contingency
from sklearn.metrics import roc_auc_score
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.proportion import (proportion_confint,
                                          proportions_chisquare)

from ecdl_mm.evaluation.clinical import StudyDataError
from ecdl_mm.evaluation.clinical.centres import pooled_proportion
from ecdl_mm.evaluation.clinical.subgroup_study import run_subgroup_study
from ecdl_mm.evaluation.clinical.subgroups import (assign_groups, group_rates,
                                                   macro_auc)

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
LOCS = ['caecum', 'ascending', 'transverse', 'descending', 'sigmoid', 'rectum']


def metadata_csv(tmp_path, num=150, seed=3, uncertain=True):
    """A lesion CSV with the metadata columns; centre D is weaker."""
    rng = np.random.default_rng(seed)
    target = rng.choice(3, num, p=[0.5, 0.15, 0.35])
    centre = np.array(['A', 'B', 'C', 'D'])[np.arange(num) // 3 % 4]
    scores = synthetic_scores(target, 2.0, rng)
    weak = centre == 'D'
    scores[weak] = synthetic_scores(target[weak], 0.3, rng)
    path = write_lesion_csv(tmp_path / 'lp.csv', [f'L{i}' for i in range(num)],
                            target, scores)
    df = pd.read_csv(path)
    df['patient_id'] = [f'P{i // 3}' for i in range(num)]
    df['centre'] = centre
    df['size_mm'] = rng.integers(1, 25, num).astype(float)
    df.loc[3, 'size_mm'] = np.nan  # a lesion without size: (missing)
    df['location'] = rng.choice(LOCS, num)
    df['morphology'] = rng.choice(['0-Is', '0-IIa', '0-Ip'], num)
    if uncertain:
        df['cal_pred_label'] = df['pred_label']
        df['uncertain'] = scores.max(1) < 0.55
    df.to_csv(path, index=False)
    return path, df


def wilson(k, n):
    return proportion_confint(k, n, alpha=0.05, method='wilson')


def check_entry(e, k, n):
    assert (e['k'], e['n']) == (k, n)
    if n:
        assert e['value'] == pytest.approx(k / n)
        assert (e['ci_lower'], e['ci_upper']) == pytest.approx(wilson(k, n))
    else:
        assert np.isnan(e['value']) and 'no lesion' in e['note']


def test_subgroup_rates_equal_pandas_statsmodels(tmp_path):
    path, df = metadata_csv(tmp_path)
    study = run_subgroup_study(
        path, ['size_mm:<=5,6-9,>=10', 'location', 'centre'],
        bootstrap_rounds=50)
    # independent grouping with pandas
    size_group = pd.cut(
        df['size_mm'], [-np.inf, 5, 9, np.inf],
        labels=['<=5', '6-9', '>=10']).astype(object).fillna('(missing)')
    keys = dict(
        size_mm=size_group, location=df['location'], centre=df['centre'])
    assert [t['column'] for t in study['groupings']] == list(keys)
    for t in study['groupings']:
        groups = df.groupby(keys[t['column']].to_numpy())
        assert sorted(g['group'] for g in t['groups']) == sorted(
            str(k) for k in groups.groups)
        for g in t['groups']:
            sub = groups.get_group(g['group'])
            ok = sub.pred_label == sub.gt_label
            check_entry(g['accuracy'], ok.sum(), len(sub))
            conf = ~sub['uncertain']
            check_entry(g['selective']['coverage'], conf.sum(), len(sub))
            check_entry(g['selective']['accuracy'], (ok & conf).sum(),
                        conf.sum())
            for k, c in enumerate(CLASSES):
                pos, said = sub.gt_label == k, sub.pred_label == k
                pc = g['per_class'][c]
                check_entry(pc['sensitivity'], (pos & said).sum(), pos.sum())
                check_entry(pc['specificity'], (~pos & ~said).sum(),
                            (~pos).sum())
                check_entry(pc['ppv'], (pos & said).sum(), said.sum())
                check_entry(pc['npv'], (~pos & ~said).sum(), (~said).sum())
            present = [
                k for k in range(3) if 0 < (sub.gt_label == k).sum() < len(sub)
            ]
            probs = sub[[f'prob_{c}' for c in CLASSES]].to_numpy()
            if not present:  # the one lesion without a size
                assert g['group'] == '(missing)' and len(sub) == 1
                assert 'undefined' in g['auc_macro']['note']
                continue
            assert g['auc_macro']['value'] == pytest.approx(
                np.mean([
                    roc_auc_score(sub.gt_label == k, probs[:, k])
                    for k in present
                ]))
            assert g['auc_macro']['ci_lower'] < g['auc_macro']['ci_upper']
            assert bool(g['caveats']) == (
                len(sub) < 30
                or any(0 < (sub.gt_label == k).sum() < 5 for k in range(3)))
        # chi-square of homogeneity == statsmodels' proportions_chisquare
        acc = [(groups.get_group(
            g['group']).eval('pred_label == gt_label')).agg(['sum', 'count'])
               for g in t['groups']]
        chi2, p, _ = proportions_chisquare([a['sum'] for a in acc],
                                           [a['count'] for a in acc])
        het = t['heterogeneity']['accuracy']
        assert (het['statistic'], het['p_value']) == pytest.approx((chi2, p))
    # centre D is weaker: heterogeneity found
    assert study['groupings'][2]['heterogeneity']['accuracy']['p_value'] < 0.05


def test_pooled_estimate_and_i2_equal_combine_effects(tmp_path):
    path, df = metadata_csv(tmp_path)
    study = run_subgroup_study(path, ['centre'], bootstrap_rounds=20)
    meta = study['meta_analysis']['centre']['accuracy']
    per = df.assign(ok=df.pred_label == df.gt_label).groupby('centre')['ok']
    k, n = per.sum().to_numpy(float), per.count().to_numpy(float)
    eff = np.log(k / (n - k))
    var = 1 / k + 1 / (n - k)
    res = combine_effects(eff, var, method_re='iterated')
    row = res.summary_frame().loc['random effect']
    expit = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    assert meta['pooled']['value'] == pytest.approx(expit(row['eff']))
    assert (meta['pooled']['ci_lower'],
            meta['pooled']['ci_upper']) == pytest.approx(
                (expit(row['ci_low']), expit(row['ci_upp'])))
    assert meta['i2'] == pytest.approx(max(0, res.i2))
    assert meta['tau2'] == pytest.approx(res.tau2)
    # hand-written I^2 = (Q - df) / Q
    w = 1 / var
    q = np.sum(w * (eff - np.sum(w * eff) / w.sum())**2)
    assert meta['i2'] == pytest.approx(max(0, (q - 3) / q))
    assert meta['i2'] > 0  # centre D differs
    # a centre with every lesion right: 0.5 continuity correction
    m = pooled_proportion(['a', 'b', 'c'], [10, 8, 5], [10, 10, 9])
    res = combine_effects(
        np.log([10.5 / 0.5, 8 / 2, 5 / 4]),
        np.array([1 / 10.5 + 1 / 0.5, 1 / 8 + 1 / 2, 1 / 5 + 1 / 4]),
        method_re='iterated')
    assert m['pooled']['logit'] == pytest.approx(res.mean_effect_re)
    assert 'note' in pooled_proportion(['a'], [3], [4])


def test_grouping_errors_name_line_and_cell(tmp_path):
    path, df = metadata_csv(tmp_path, uncertain=False)
    bad = df.copy()
    bad['size_mm'] = bad['size_mm'].astype(object)
    bad.loc[6, 'size_mm'] = 'large'
    with pytest.raises(
            StudyDataError, match=r"line 8: size_mm='large' is "
            'not a number'):
        assign_groups(bad, 'size_mm:<=5,6-9,>=10', 'x.csv')
    half = df.copy()
    half.loc[2, 'size_mm'] = 5.5
    with pytest.raises(
            StudyDataError,
            match=r'line 4: size_mm=5.5 falls in '
            r"no bin of 'size_mm:<=5,6-9,>=10'"):
        assign_groups(half, 'size_mm:<=5,6-9,>=10', 'x.csv')
    with pytest.raises(StudyDataError, match='falls in two bins'):
        assign_groups(df, 'size_mm:<=5,5-9,>=10', 'x.csv')
    with pytest.raises(StudyDataError, match="no column 'site'"):
        assign_groups(df, 'site', 'x.csv')
    with pytest.raises(StudyDataError, match="bin 'about 5'"):
        assign_groups(df, 'size_mm:about 5', 'x.csv')
    _, labels, order = assign_groups(df, 'size_mm:<5,5-9,>9', 'x.csv')
    assert order == ['<5', '5-9', '>9', '(missing)']
    assert (labels == '(missing)').sum() == 1


def test_degenerate_groups_say_why():
    target = np.array([0, 0, 0])
    scores = np.eye(3)[target]
    auc = macro_auc(scores, target, 3, rounds=20)
    assert np.isnan(auc['value']) and 'fewer than two classes' in auc['note']
    target = np.array([0, 1, 0, 1, 2, 2])
    auc = macro_auc(np.eye(3)[target], target, 3, rounds=50)
    assert auc['value'] == 1.0 and 'zero-width interval' in auc['note']
    g = group_rates(target, target, np.eye(3)[target], CLASSES, rounds=20)
    assert 'only 6 lesions' in g['caveats'][0]
    # a class never predicted: PPV undefined, with a note
    pred = np.array([0, 0, 0, 0, 2, 2])
    g = group_rates(pred, target, np.eye(3)[pred], CLASSES, rounds=20)
    check_entry(g['per_class']['invasive_cancer']['ppv'], 0, 0)
    # Wilson never collapses at 0 or 1
    assert g['per_class']['adenomas']['sensitivity']['ci_lower'] < 1


def keyed_cells(html):
    """(JSON path, shown value) of every keyed table cell."""
    out = []
    for m in re.finditer(r'data-value="([^"]+)" data-key=\'([^\']+)\'', html):
        out.append((json.loads(m.group(2).replace('&quot;',
                                                  '"')), float(m.group(1))))
    return out


def test_subgroups_cli(tmp_path, monkeypatch, capsys):
    path, df = metadata_csv(tmp_path)
    out = tmp_path / 'sg'
    monkeypatch.setattr(sys, 'argv', [
        'subgroups.py', path, '--by', 'size_mm:<=5,6-9,>=10', '--by', 'centre',
        '--out-dir',
        str(out), '--bootstrap-rounds', '30'
    ])
    runpy.run_path(
        osp.join(REPO, 'tools/analysis/subgroups.py'), run_name='__main__')
    doc = json.load(open(out / 'subgroups.json'))
    for name in ('subgroups_size_mm.csv', 'subgroups_centre.csv',
                 'heterogeneity.csv', 'forest_accuracy.png', 'flow.png'):
        assert (out / name).is_file(), name
    flat = pd.read_csv(out / 'subgroups_centre.csv')
    acc = flat[(flat.group == 'D') & (flat.rate == 'accuracy')].iloc[0]
    d = df[df.centre == 'D']
    assert (acc.k, acc.n) == ((d.pred_label == d.gt_label).sum(), len(d))
    cells = keyed_cells(open(out / 'report.html').read())
    assert len(cells) > 100
    for key, shown in cells:
        v = doc
        for part in key:
            v = v[part]
        v = float('nan') if v is None else v  # NaN is null in JSON
        assert shown == pytest.approx(v, nan_ok=True), key
    dl = doc['pivi']['diagnose_and_leave']
    assert dl['assessable'] and doc['pivi']['resect_and_discard']['assessable']
    assert doc['flow']['deferred']['lesions'] == int(df.uncertain.sum())
    text = capsys.readouterr().out
    assert 'PIVI diagnose-and-leave NPV' in text and 'not PIVI' in text

    # a missing file and a bad cell: one line naming them, exit 2
    bad = df.copy()
    bad['size_mm'] = bad['size_mm'].astype(object)
    bad.loc[9, 'size_mm'] = '7mm'
    bad.to_csv(tmp_path / 'bad.csv', index=False)
    for csv, expected in ((tmp_path / 'none.csv', f'{tmp_path}/none.csv '
                           'not found'),
                          (tmp_path / 'bad.csv',
                           "bad.csv line 11: size_mm='7mm' is not a number")):
        monkeypatch.setattr(sys, 'argv', [
            'subgroups.py',
            str(csv), '--by', 'size_mm:<=5,>5', '--out-dir',
            str(out)
        ])
        with pytest.raises(SystemExit) as exc:
            runpy.run_path(
                osp.join(REPO, 'tools/analysis/subgroups.py'),
                run_name='__main__')
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and expected in err, err


def test_without_metadata_pivi_is_not_assessed(tmp_path):
    target = np.arange(30) % 3
    path = write_lesion_csv(
        tmp_path / 'plain.csv', [f'L{i}' for i in range(30)], target,
        synthetic_scores(target, 2, np.random.default_rng(0)))
    study = run_subgroup_study(path, bootstrap_rounds=10)
    assert study['groupings'] == []
    assert any(
        line.startswith('PIVI diagnose-and-leave needs column(s) '
                        'size_mm, location') for line in study['needs'])
    dl = study['pivi']['diagnose_and_leave']
    assert not dl['assessable'] and 'cannot be assessed' in dl['reason']
    df = pd.read_csv(path)
    called = df.pred_label == 2
    check_entry(dl['all_lesions'], (called & (df.gt_label == 2)).sum(),
                called.sum())
    assert 'not PIVI' in dl['all_lesions']['name']
    # the homogeneity test is the textbook one
    table = np.array([[8, 5], [2, 5]])
    from ecdl_mm.evaluation.clinical.subgroups import homogeneity_test
    res = homogeneity_test([8, 5], [10, 10])
    assert res['p_value'] == pytest.approx(
        chi2_contingency(table, correction=False)[1])


def test_lesion_report_shows_subgroups_when_columns_exist(tmp_path):
    from ecdl_mm.evaluation import LesionMetric
    from ecdl_mm.evaluation.report import build_lesion_report
    rng = np.random.default_rng(1)
    results = []
    for i in range(24):
        logits = rng.normal(size=3) + 1.5 * np.eye(3)[i % 3]
        results.append(
            dict(
                score=np.exp(logits) / np.exp(logits).sum(),
                gt_label=i % 3,
                lesion_id=f'L{i}',
                patient_id=f'P{i // 2}',
                img_path=str(tmp_path / f'L{i}.jpg')))
    out = tmp_path / 'eval'
    LesionMetric(
        bootstrap_rounds=20, out_dir=str(out),
        classes=CLASSES).compute_metrics(results)
    html = build_lesion_report(str(out)).render()
    assert 'PIVI diagnose-and-leave needs column(s) size_mm, location' in html
    assert 'id="subgroups_0"' not in html
    csv = out / 'lesion_predictions.csv'
    df = pd.read_csv(csv)
    df['size_mm'] = [3, 8, 12] * 8
    df['location'] = (['rectum', 'sigmoid', 'caecum'] * 8)[::-1]
    df.to_csv(csv, index=False)
    html = build_lesion_report(str(out)).render()
    assert 'id="subgroups_0"' in html and 'id="subgroups_1"' in html
    assert 'PIVI resect-and-discard agreement' in html
    assert 'Study flow (STARD)' in html


def test_operating_point_defers_here(tmp_path):
    from ecdl_mm.evaluation.operating_point import OperatingPoint
    path, df = metadata_csv(tmp_path, uncertain=False)
    df['size_mm'] = np.arange(len(df)) % 8 + 1.0
    df['location'] = np.where(np.arange(len(df)) % 3, 'rectum', 'caecum')
    df.to_csv(path, index=False)
    op = OperatingPoint(classes=CLASSES, temperature=1.6, min_confidence=0.6)
    study = run_subgroup_study(
        path, ['centre'], operating_point=op, bootstrap_rounds=10)
    logits = np.log(df[[f'prob_{c}' for c in CLASSES]].to_numpy()) / 1.6
    cal = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    unc = cal.max(1) < 0.6
    assert 0 < unc.sum() < len(df)
    assert study['flow']['deferred']['lesions'] == unc.sum()
    for g in study['groupings'][0]['groups']:
        m = (df.centre == g['group']).to_numpy()
        check_entry(g['selective']['coverage'], (~unc[m]).sum(), m.sum())
    dl = study['pivi']['diagnose_and_leave']
    sub = ((df.size_mm <= 5)
           & df.location.isin(['sigmoid', 'rectum'])).to_numpy()
    called = sub & ~unc & (cal.argmax(1) == 2)
    assert called.sum() >= 5
    check_entry(dl, (called & (df.gt_label == 2)).sum(), called.sum())
    assert dl['deferred'] == (sub & unc).sum()

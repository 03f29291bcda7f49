# Copyright (c) ecdl_mm contributors. All rights reserved.
import numpy as np
import pandas as pd
import pytest
from helpers.clinical import CLASSES, make_study
from statsmodels.stats.proportion import proportion_confint

from ecdl_mm.evaluation.clinical import load_lesion_predictions, load_readers
from ecdl_mm.evaluation.clinical.pivi import (class_kinds, diagnose_and_leave,
                                              resect_and_discard)
from ecdl_mm.evaluation.clinical.reader_pivi import reader_pivi
from ecdl_mm.evaluation.clinical.surveillance import (ESGE_2020_TABLE,
                                                      USMSTF_2020_TABLE,
                                                      esge_2020, usmstf_2020)

A, C, H = 'adenoma', 'cancer', 'non-neoplastic'

# one patient per row of Gupta et al. 2020, Table 2 (the rows a 3-class
# diagnosis decides), with the interval the table gives
USMSTF_CASES = [
    ('normal colonoscopy', [], '10y'),
    ('< 20 hyperplastic polyps < 10 mm', [(4, H), (8, H), (3, H)], '10y'),
    ('hyperplastic polyp >= 10 mm', [(12, H)], '3-5y'),
    ('1-2 tubular adenomas < 10 mm', [(3, A)], '7-10y'),
    ('1-2 tubular adenomas < 10 mm', [(3, A), (9, A)], '7-10y'),
    ('3-4 tubular adenomas < 10 mm', [(3, A)] * 3, '3-5y'),
    ('3-4 tubular adenomas < 10 mm', [(3, A)] * 4, '3-5y'),
    ('5-10 tubular adenomas < 10 mm', [(3, A)] * 5, '3y'),
    ('5-10 tubular adenomas < 10 mm', [(9, A)] * 10, '3y'),
    ('adenoma >= 10 mm', [(10, A)], '3y'),
    ('> 10 adenomas', [(3, A)] * 11, '1y'),
    ('>= 20 hyperplastic polyps (serrated polyposis criteria)', [(3, H)] * 20,
     'serrated polyposis work-up'),
    ('invasive cancer (outside the table)', [(15, C)], 'cancer pathway'),
]
ESGE_CASES = [
    ('no polyp', [], 'no surveillance (screening)'),
    ('1-4 adenomas < 10 mm', [(3, A)] * 4, 'no surveillance (screening)'),
    ('serrated (hyperplastic) polyps < 10 mm', [(9, H)] * 3,
     'no surveillance (screening)'),
    ('>= 5 adenomas', [(3, A)] * 5, '3y'),
    ('adenoma >= 10 mm', [(10, A)], '3y'),
    ('serrated (hyperplastic) polyp >= 10 mm', [(10, H)], '3y'),
    ('invasive cancer (outside the table)', [(4, C)], 'cancer pathway'),
]


@pytest.mark.parametrize('row,lesions,interval', USMSTF_CASES)
def test_usmstf_2020_table_rows(row, lesions, interval):
    assert USMSTF_2020_TABLE[row] == interval
    assert usmstf_2020(lesions) == interval


@pytest.mark.parametrize('row,lesions,interval', ESGE_CASES)
def test_esge_2020_table_rows(row, lesions, interval):
    assert ESGE_2020_TABLE[row] == interval
    assert esge_2020(lesions) == interval


def test_every_table_row_has_a_case():
    assert {r for r, _, _ in USMSTF_CASES} == set(USMSTF_2020_TABLE)
    assert {r for r, _, _ in ESGE_CASES} == set(ESGE_2020_TABLE)


@pytest.mark.parametrize(
    'lesions,usmstf,esge',
    [
        # the most advanced finding decides
        ([(3, A), (4, H), (12, H)], '3-5y', '3y'),
        ([(3, A), (4, A), (12, A)], '3y', '3y'),  # 3 adenomas, one large
        ([(3, A), (2, H), (2, H)], '7-10y', 'no surveillance (screening)'),
        ([(3, A)] * 4 + [(4, C)], 'cancer pathway', 'cancer pathway'),
        ([(3, A)] * 10 + [(15, A)], '1y', '3y'),  # 11 adenomas
        ([(9, A)] * 4 + [(2, H)] * 19, '3-5y', 'no surveillance (screening)'),
    ])
def test_patients_with_mixed_lesions(lesions, usmstf, esge):
    assert usmstf_2020(lesions) == usmstf
    assert esge_2020(lesions) == esge


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="lesion kind 'polyp'"):
        usmstf_2020([(3, 'polyp')])


KINDS = class_kinds(CLASSES)  # adenomas, invasive_cancer, non-neoplastic
ADE, CAN, NON = 0, 1, 2


def test_diagnose_and_leave_counts_only_diminutive_rectosigmoid():
    assert list(KINDS) == [A, C, H]
    #          in subgroup ------------------------------  outside
    pred = np.array([NON, NON, NON, NON, NON, NON, ADE, NON, NON, NON])
    target = np.array([NON, NON, NON, ADE, CAN, NON, ADE, ADE, ADE, NON])
    size = np.array([2, 5, 4, 3, 3, 4, 3, 6, 2, np.nan])
    loc = [
        'sigmoid', 'rectum', 'rectum', 'sigmoid', 'rectum', 'sigmoid',
        'rectum', 'sigmoid', 'caecum', 'rectum'
    ]
    unc = np.zeros(10, bool)
    unc[5] = True  # deferred: not a "leave" call
    res = diagnose_and_leave(pred, target, KINDS, size, loc, unc)
    # called non-neoplastic, confident, <= 5 mm, sigmoid/rectum: 0..4;
    # histology non-neoplastic: 0, 1, 2 (a cancer is no negative)
    assert (res['k'], res['n']) == (3, 5)
    assert (res['ci_lower'], res['ci_upper']) == pytest.approx(
        proportion_confint(3, 5, method='wilson'))
    assert res['flag'] and not res['meets_threshold']
    assert res['subgroup_lesions'] == 7 and res['deferred'] == 1
    assert res['missing_metadata'] == 1
    # the all-lesion figure under its own name: every confident NON call
    allr = res['all_lesions']
    assert (allr['k'], allr['n']) == (4, 8) and 'not PIVI' in allr['name']
    nothing = diagnose_and_leave(pred, target, KINDS, size, None)
    assert not nothing['assessable']
    assert 'no location column' in nothing['reason']


def test_resect_and_discard_per_patient():
    #                P1: 2 small ADE seen as ADE + 1 large ADE
    #                P2: small ADE called NON -> 10y vs 7-10y
    #                P3: small ADE called NON but uncertain -> histology
    #                P4: small called CAN -> histology, never discarded
    pids = ['P1', 'P1', 'P1', 'P2', 'P2', 'P3', 'P4']
    size = [3, 4, 12, 3, 6, 4, 2]
    pred = np.array([ADE, ADE, NON, NON, NON, NON, CAN])
    target = np.array([ADE, ADE, ADE, ADE, NON, ADE, ADE])
    unc = np.array([0, 0, 0, 0, 0, 1, 0], bool)
    res = resect_and_discard(pids, size, pred, target, KINDS, unc)
    assert (res['k'], res['n']) == (3, 4)
    assert res['disagreements'] == [
        dict(patient_id='P2', optical='10y', histology='7-10y', lesions=2)
    ]
    p = res['patients']
    assert p['P1']['histology'] == '3y' and p['P1']['optically_diagnosed'] == 2
    assert p['P3']['optical'] == '7-10y'
    assert p['P4']['optically_diagnosed'] == 0
    assert res['lower_bound_meets'] is False
    esge = resect_and_discard(
        pids, size, pred, target, KINDS, unc, guideline='esge2020')
    # ESGE: 1-4 small adenomas and none -> both "no surveillance"
    assert (esge['k'], esge['n']) == (4, 4) and 'ESGE' in esge['guideline']
    size[0] = np.nan
    out = resect_and_discard(pids, size, pred, target, KINDS, unc)
    assert out['excluded_patients'] == ['P1'] and out['n'] == 3
    pids[6] = float('nan')  # an empty patient_id cell: left out, said
    out = resect_and_discard(pids, size, pred, target, KINDS, unc)
    assert out['n'] == 2 and out['lesions_without_patient'] == 1
    assert 'without patient_id' in out['note']
    assert not resect_and_discard(None, size, pred, target,
                                  KINDS)['assessable']


def test_reader_pivi_per_reader_and_session(tmp_path):
    model_csv, readers_csv, df, target = make_study(tmp_path, num=60)
    m = pd.read_csv(model_csv)
    rng = np.random.default_rng(2)
    m['patient_id'] = [f'P{i // 2}' for i in range(len(m))]
    m['size_mm'] = rng.choice([2, 4, 5, 7, 12], len(m)).astype(float)
    m['location'] = rng.choice(['sigmoid', 'rectum', 'ascending'], len(m))
    m.to_csv(model_csv, index=False)
    model = load_lesion_predictions(model_csv)
    reads = load_readers(readers_csv, model)
    res = reader_pivi(model, reads)
    assert res['needs'] == []
    meta = m.iloc[:60]
    sub = (meta.size_mm <= 5) & meta.location.isin(['sigmoid', 'rectum'])
    idx = {c: k for k, c in enumerate(CLASSES)}
    pooled = {}
    for row in res['readers']:
        d = df[(df.reader_id == row['reader'])
               & (df.session == row['session'])]['diagnosis'].map(idx)
        called = sub.to_numpy() & (d.to_numpy() == NON)
        k = int((called & (target == NON)).sum())
        dl = row['diagnose_and_leave']
        assert (dl['k'], dl['n']) == (k, int(called.sum()))
        acc = pooled.setdefault(row['session'], [0, 0])
        acc[0] += k
        acc[1] += int(called.sum())
        assert row['resect_and_discard']['n'] == 30
    for s in res['sessions']:
        e = s['diagnose_and_leave']
        assert [e['k'], e['n']] == pooled[s['session']]
        assert e['ci_lower'] < e['value'] < e['ci_upper']
    assert res['model']['diagnose_and_leave']['assessable']

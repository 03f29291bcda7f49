# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Everything ``tools/analysis/subgroups.py`` (and the lesion report)
computes from one ``lesion_predictions.csv``: subgroup tables, the
per-centre meta-analysis, both PIVI checks and the study flow.

The lesion metadata columns (``patient_id``, ``centre``, ``size_mm``,
``location``, ``morphology``) are optional; :data:`NEEDS` says which
analysis needs which, and the result lists what could not be run.
"""
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np

from .centres import pooled_proportion
from .flow import study_flow
from .pivi import class_kinds, diagnose_and_leave, resect_and_discard
from .predictions import StudyDataError, load_lesion_predictions
from .subgroups import MIN_GROUP, subgroup_table

NEEDS = OrderedDict([
    ('subgroups by size', ('size_mm', )),
    ('subgroups by location', ('location', )),
    ('subgroups by morphology', ('morphology', )),
    ('per-centre forest plot', ('centre', )),
    ('PIVI diagnose-and-leave', ('size_mm', 'location')),
    ('PIVI resect-and-discard', ('patient_id', 'size_mm')),
])
METADATA = ('patient_id', 'centre', 'size_mm', 'location', 'morphology')
DEFAULT_GROUPINGS = ('size_mm:<=5,6-9,>=10', 'location', 'centre',
                     'morphology')


def _present(frame, col) -> bool:
    if col not in frame.columns:
        return False
    v = frame[col]
    return bool((v.notna() & (v.astype(str).str.strip() != '')).any())


def missing_needs(frame) -> list:
    """One line per analysis whose columns are absent."""
    out = []
    for what, cols in NEEDS.items():
        lacking = [c for c in cols if not _present(frame, c)]
        if lacking:
            out.append(f'{what} needs column(s) {", ".join(lacking)} in '
                       'lesion_predictions.csv (from the split sheet)')
    return out


def decisions_of(frame, lesions, operating_point=None):
    """``(pred, uncertain, source)``: the calls and deferrals to analyse.

    With ``operating_point`` (an :class:`~ecdl_mm.evaluation.
    OperatingPoint`) the ``prob_`` columns are calibrated and thresholded
    here; else the CSV's own ``cal_pred_label`` / ``uncertain`` columns
    are used when present; else the raw ``pred_label`` and no deferral.
    """
    if operating_point is not None:
        operating_point.check_classes(lesions.classes, where=lesions.path)
        cal = operating_point.calibrate(lesions.scores)
        n_img = (
            frame['num_images'].to_numpy(int)
            if 'num_images' in frame else np.ones(len(frame), int))
        return (cal.argmax(1), operating_point.is_uncertain(cal, n_img),
                f'operating point {operating_point.path}')
    if 'uncertain' in frame.columns:
        unc = frame['uncertain'].astype(str).str.strip().str.lower()
        bad = np.flatnonzero(~unc.isin(['true', 'false', '1', '0']))
        if len(bad):
            raise StudyDataError(
                f'{lesions.path} line {bad[0] + 2}: uncertain='
                f'{frame["uncertain"].iloc[bad[0]]!r} is not true/false')
        pred = (
            frame['cal_pred_label'].to_numpy(int)
            if 'cal_pred_label' in frame else lesions.pred)
        return (pred, unc.isin(['true', '1']).to_numpy(),
                'the CSV\'s cal_pred_label / uncertain columns')
    return lesions.pred, None, 'pred_label (no operating point: no deferral)'


def run_subgroup_study(path: str,
                       groupings: Optional[Sequence[str]] = None,
                       operating_point=None,
                       guideline: str = 'usmstf2020',
                       actions: Optional[dict] = None,
                       bootstrap_rounds: int = 1000,
                       seed: int = 0,
                       ci_level: float = 0.95,
                       min_group: int = MIN_GROUP,
                       splits: Optional[dict] = None,
                       evaluated_split: Optional[str] = None,
                       forest_column: str = 'centre') -> 'OrderedDict':
    """All analyses, JSON-ready.

    Args:
        path (str): ``lesion_predictions.csv``.
        groupings (Sequence[str], optional): ``COL`` or ``COL:BINS`` specs
            (:func:`~.subgroups.parse_grouping`). Defaults to those of
            :data:`DEFAULT_GROUPINGS` whose column exists.
        operating_point (OperatingPoint, optional): See
            :func:`decisions_of`.
        guideline (str): ``'usmstf2020'`` or ``'esge2020'``.
        actions (dict, optional): Class -> clinical action (kinds for PIVI).
        bootstrap_rounds (int): Lesion-bootstrap rounds for AUCs.
        seed (int), ci_level (float), min_group (int): See
            :func:`~.subgroups.group_rates`.
        splits (dict, optional), evaluated_split (str, optional): For the
            flow (:func:`~.flow.study_flow`).
        forest_column (str): The grouping pooled by meta-analysis.

    Returns:
        OrderedDict: ``source``, ``classes``, ``settings``, ``needs``
        (lines of analyses that lack a column), ``groupings``,
        ``meta_analysis`` (per forest-column grouping: accuracy and every
        class's sensitivity), ``pivi`` and ``flow``.
    """
    import pandas as pd
    lesions = load_lesion_predictions(path)
    frame = pd.read_csv(path, dtype={'lesion_id': str, 'patient_id': str})
    classes = lesions.classes
    pred, uncertain, source = decisions_of(frame, lesions, operating_point)
    if groupings is None:
        groupings = [
            g for g in DEFAULT_GROUPINGS if _present(frame,
                                                     g.split(':')[0])
        ]
    tables = [
        subgroup_table(frame, g, pred, lesions.target, lesions.scores, classes,
                       uncertain, ci_level, bootstrap_rounds, seed, min_group,
                       path) for g in groupings
    ]
    meta = OrderedDict()
    for t in tables:
        if t['column'] != forest_column:
            continue
        names = [g['group'] for g in t['groups']]
        rates = OrderedDict(accuracy=[g['accuracy'] for g in t['groups']])
        for c in classes:
            rates[f'sensitivity_{c}'] = [
                g['per_class'][c]['sensitivity'] for g in t['groups']
            ]
        meta[t['spec']] = OrderedDict(
            (name,
             pooled_proportion(names, [e['k']
                                       for e in es], [e['n']
                                                      for e in es], ci_level))
            for name, es in rates.items())

    def col(name, numeric=False):
        if not _present(frame, name):
            return None
        v = frame[name]
        return (pd.to_numeric(v, errors='coerce').to_numpy(float)
                if numeric else v.tolist())

    kinds = class_kinds(classes, actions)
    pivi = OrderedDict(
        diagnose_and_leave=diagnose_and_leave(pred, lesions.target, kinds,
                                              col('size_mm', True),
                                              col('location'), uncertain,
                                              ci_level),
        resect_and_discard=resect_and_discard(
            col('patient_id'), col('size_mm', True), pred, lesions.target,
            kinds, uncertain, guideline, ci_level))
    flow = study_flow(lesions.lesion_ids,
                      frame['num_images'] if 'num_images' in frame else None,
                      uncertain, splits, evaluated_split)
    return OrderedDict(
        source=path,
        classes=list(classes),
        settings=OrderedDict(
            decisions=source,
            ci_level=ci_level,
            bootstrap_rounds=bootstrap_rounds,
            seed=seed,
            min_group=min_group,
            guideline=guideline,
            intervals='rates: Wilson score with k/n; macro AUC: percentile '
            'lesion bootstrap; pooled: random-effects (Paule-Mandel) on '
            'the logit scale'),
        needs=missing_needs(frame),
        groupings=tables,
        meta_analysis=meta,
        pivi=pivi,
        flow=flow)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The ASGE PIVI thresholds, as defined.

ASGE's Preservation and Incorporation of Valuable endoscopic Innovations
(Rex DK, Kahi C, O'Brien M, et al. The American Society for Gastrointestinal
Endoscopy PIVI on real-time endoscopic assessment of the histology of
diminutive colorectal polyps. Gastrointest Endosc 2011;73:419-422):

* **Diagnose and leave**: for diminutive (<= 5 mm) polyps of the
  rectosigmoid colon, the optical diagnosis made with high confidence
  should have a negative predictive value for adenomatous histology of at
  least 90% (:func:`diagnose_and_leave`). Here: among diminutive lesions
  located in the sigmoid or rectum that were confidently (not deferred)
  called non-neoplastic, the share whose histology is non-neoplastic.
* **Resect and discard**: the post-polypectomy surveillance interval
  assigned from the optical diagnosis of diminutive polyps together with
  the histology of the larger ones should agree with the interval from
  histology alone in at least 90% of patients (:func:`resect_and_discard`,
  intervals from :mod:`.surveillance`). Deferred (uncertain) lesions, and
  diminutive lesions called invasive cancer (never discarded), take their
  histology, as in practice.

The NPV of every confident non-neoplastic call, whatever its size and
site, is reported beside under its own name (:func:`leave_npv`); it is not
the PIVI figure.
"""
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np

from ..functional import proportion_interval, safe_div
from .decisions import DEFAULT_ACTIONS, LEAVE, REFER, RESECT
from .surveillance import (ADENOMA, CANCER, GUIDELINE_NAMES, NON_NEOPLASTIC,
                           surveillance_interval)

LOCATIONS = ('caecum', 'ascending', 'transverse', 'descending', 'sigmoid',
             'rectum')
RECTOSIGMOID = ('sigmoid', 'rectum')
DIMINUTIVE_MM = 5.0
PIVI_THRESHOLD = 0.90
KIND_OF_ACTION = {
    LEAVE: NON_NEOPLASTIC,
    RESECT: ADENOMA,
    REFER: CANCER,
}


def rate_entry(k, n, ci_level: float = 0.95) -> 'OrderedDict':
    """``{value, k, n, ci_lower, ci_upper}`` with a Wilson interval; an
    empty denominator gives NaNs and a ``note`` saying so (an interval never
    collapses silently)."""
    lo, hi = proportion_interval(k, n, ci_level)
    out = OrderedDict(
        value=float(safe_div(k, n)),
        k=int(k),
        n=int(n),
        ci_lower=lo,
        ci_upper=hi)
    if n == 0:
        out['note'] = 'undefined: no lesion in the denominator'
    return out


def class_kinds(classes: Sequence[str], actions: Optional[dict] = None):
    """The histology kind (adenoma / cancer / non-neoplastic) of every
    class, through its clinical action (``DEFAULT_ACTIONS`` by default).

    Raises:
        ValueError: Naming the classes without a kind.
    """
    actions = dict(DEFAULT_ACTIONS if actions is None else actions)
    missing = [
        c for c in classes if KIND_OF_ACTION.get(actions.get(c)) is None
    ]
    if missing:
        raise ValueError(
            f'class(es) {", ".join(missing)} map to no histology kind: give '
            f'actions mapping every class to one of {LEAVE!r}, {RESECT!r}, '
            f'{REFER!r} (got {actions})')
    return np.array([KIND_OF_ACTION[actions[c]] for c in classes], object)


def _flag(entry: dict, threshold: float) -> dict:
    entry.update(
        threshold=threshold,
        meets_threshold=bool(entry['value'] >= threshold),
        lower_bound_meets=bool(entry['ci_lower'] >= threshold),
        flag=bool(not entry['ci_lower'] >= threshold))
    return entry


def _confident(uncertain, num):
    return (np.ones(num, bool)
            if uncertain is None else ~np.asarray(uncertain, bool))


def leave_npv(pred, target, kinds, uncertain=None, ci_level=0.95) -> dict:
    """NPV for adenomatous (or cancerous) histology of the confident
    non-neoplastic calls over **all** lesions: not the PIVI figure (no size
    or site restriction)."""
    pred, target = np.asarray(pred), np.asarray(target)
    called = (kinds[pred] == NON_NEOPLASTIC) & _confident(uncertain, len(pred))
    e = rate_entry((called & (kinds[target] == NON_NEOPLASTIC)).sum(),
                   called.sum(), ci_level)
    e['name'] = ('NPV of the confident non-neoplastic calls, all lesions '
                 '(not PIVI: no size or site restriction)')
    return e


def diminutive_rectosigmoid(size_mm, location) -> np.ndarray:
    """Bool mask: ``size_mm <= 5`` and location sigmoid or rectum (or
    the derived ``rectosigmoid``); missing values are False."""
    size = np.asarray(size_mm, float)
    loc = np.array([
        str(x).strip().lower() if isinstance(x, str) else '' for x in location
    ])
    with np.errstate(invalid='ignore'):
        small = size <= DIMINUTIVE_MM
    return small & np.isin(loc, RECTOSIGMOID + ('rectosigmoid', ))


def diagnose_and_leave(pred,
                       target,
                       kinds,
                       size_mm=None,
                       location=None,
                       uncertain=None,
                       ci_level: float = 0.95,
                       threshold: float = PIVI_THRESHOLD) -> 'OrderedDict':
    """PIVI "diagnose and leave": NPV for adenomatous histology of the
    confident non-neoplastic calls among diminutive rectosigmoid lesions.

    Args:
        pred, target (np.ndarray): Called and true class indices ``(L, )``.
        kinds (np.ndarray): Histology kind per class (:func:`class_kinds`).
        size_mm, location (array-like, optional): Per lesion; without
            either PIVI cannot be assessed (``assessable`` False and
            ``reason``).
        uncertain (np.ndarray, optional): Bool ``(L, )``, deferred lesions
            (never a "leave" call).
        ci_level (float): Defaults to 0.95.
        threshold (float): PIVI threshold. Defaults to 0.90.

    Returns:
        OrderedDict: ``assessable``; when assessable the rate entry (``value,
        k, n, ci_lower, ci_upper``) with ``threshold``, ``meets_threshold``
        (point estimate), ``lower_bound_meets`` and ``flag`` (lower bound
        under the threshold), ``subgroup_lesions``, ``deferred``,
        ``missing_metadata``; always ``all_lesions`` (:func:`leave_npv`).
    """
    pred, target = np.asarray(pred), np.asarray(target)
    out = OrderedDict(
        name='PIVI diagnose-and-leave NPV (diminutive <= 5 mm rectosigmoid '
        'lesions, confident non-neoplastic calls)')
    if size_mm is None or location is None:
        need = [
            c for c, v in (('size_mm', size_mm), ('location', location))
            if v is None
        ]
        out.update(
            assessable=False,
            reason=f'PIVI diagnose-and-leave cannot be assessed: no '
            f'{" and no ".join(need)} column (it is defined on diminutive '
            'rectosigmoid lesions)')
    else:
        sub = diminutive_rectosigmoid(size_mm, location)
        missing = np.isnan(np.asarray(size_mm, float)) | np.array(
            [not isinstance(x, str) or not x.strip() for x in location])
        conf = _confident(uncertain, len(pred))
        called = sub & conf & (kinds[pred] == NON_NEOPLASTIC)
        e = rate_entry((called & (kinds[target] == NON_NEOPLASTIC)).sum(),
                       called.sum(), ci_level)
        out.update(assessable=True)
        out.update(_flag(e, threshold))
        out.update(
            subgroup_lesions=int(sub.sum()),
            deferred=int((sub & ~conf).sum()),
            missing_metadata=int(missing.sum()))
        if e['n'] == 0:
            out['note'] = ('no confident non-neoplastic call among the '
                           f'{int(sub.sum())} diminutive rectosigmoid '
                           'lesion(s): nothing supports diagnose-and-leave')
    out['all_lesions'] = leave_npv(pred, target, kinds, uncertain, ci_level)
    return out


def patient_intervals(patient_ids,
                      size_mm,
                      pred,
                      target,
                      kinds,
                      uncertain=None,
                      guideline: str = 'usmstf2020') -> 'OrderedDict':
    """Per patient ``(optical, histology)`` intervals: optical = the
    optical diagnosis of confident diminutive lesions not called cancer,
    histology for every other lesion; histology = histology of all."""
    pred, target = np.asarray(pred), np.asarray(target)
    size = np.asarray(size_mm, float)
    conf = _confident(uncertain, len(pred))
    optical_used = (size <= DIMINUTIVE_MM) & conf & (kinds[pred] != CANCER)
    opt_kind = np.where(optical_used, kinds[pred], kinds[target])
    out = OrderedDict()
    pids = np.asarray([str(p) for p in patient_ids], object)
    for pid in dict.fromkeys(pids):
        rows = np.flatnonzero(pids == pid)
        hist = [(size[i], kinds[target[i]]) for i in rows]
        opt = [(size[i], opt_kind[i]) for i in rows]
        out[pid] = dict(
            optical=surveillance_interval(opt, guideline),
            histology=surveillance_interval(hist, guideline),
            lesions=len(rows),
            optically_diagnosed=int(optical_used[rows].sum()))
    return out


def resect_and_discard(patient_ids=None,
                       size_mm=None,
                       pred=None,
                       target=None,
                       kinds=None,
                       uncertain=None,
                       guideline: str = 'usmstf2020',
                       ci_level: float = 0.95,
                       threshold: float = PIVI_THRESHOLD) -> 'OrderedDict':
    """PIVI "resect and discard": agreement of the per-patient surveillance
    interval from optical diagnosis (diminutive lesions) + histology
    (larger, deferred, cancer-called lesions) with the interval from
    histology alone (:func:`patient_intervals`).

    Returns:
        OrderedDict: ``assessable`` (False with ``reason`` without
        ``patient_id`` / ``size_mm``); the agreement entry over patients
        with ``threshold`` / ``meets_threshold`` / ``lower_bound_meets`` /
        ``flag``, ``guideline``, ``disagreements`` (patient, optical,
        histology), ``excluded_patients`` (a lesion without size).
    """
    out = OrderedDict(
        name='PIVI resect-and-discard agreement of surveillance intervals',
        guideline=GUIDELINE_NAMES.get(guideline, guideline))
    if patient_ids is None or size_mm is None:
        need = [
            c for c, v in (('patient_id', patient_ids), ('size_mm', size_mm))
            if v is None
        ]
        out.update(
            assessable=False,
            reason='PIVI resect-and-discard cannot be assessed: no '
            f'{" and no ".join(need)} column (intervals are per patient '
            'and depend on lesion size)')
        return out
    no_patient = np.array(
        [not isinstance(p, str) or not p.strip() for p in patient_ids])
    pids = np.asarray([str(p).strip() for p in patient_ids], object)
    size = np.asarray(size_mm, float)
    bad = set(pids[np.isnan(size) & ~no_patient])
    keep = ~np.isin(pids, list(bad)) & ~no_patient
    pred, target = np.asarray(pred)[keep], np.asarray(target)[keep]
    unc = None if uncertain is None else np.asarray(uncertain, bool)[keep]
    per = patient_intervals(pids[keep], size[keep], pred, target, kinds, unc,
                            guideline)
    agree = sum(v['optical'] == v['histology'] for v in per.values())
    out.update(assessable=True)
    out.update(_flag(rate_entry(agree, len(per), ci_level), threshold))
    out['disagreements'] = [
        OrderedDict(
            patient_id=p,
            optical=v['optical'],
            histology=v['histology'],
            lesions=v['lesions']) for p, v in per.items()
        if v['optical'] != v['histology']
    ]
    out['excluded_patients'] = sorted(bad)
    out['lesions_without_patient'] = int(no_patient.sum())
    notes = []
    if bad:
        notes.append(f'{len(bad)} patient(s) left out: a lesion without '
                     'size_mm')
    if no_patient.any():
        notes.append(f'{int(no_patient.sum())} lesion(s) without patient_id '
                     'left out')
    if notes:
        out['note'] = '; '.join(notes)
    out['patients'] = per
    return out

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Both PIVI checks (:mod:`.pivi`) in a reader study: for the model, for
every reader in every session, and for all readers of a session together
(reading without / with AI).

Readers make no "uncertain" call, so every reader diagnosis counts as
confident. Pooled over readers, the reads of one lesion (diagnose and
leave) or of one patient (resect and discard) are correlated; their
interval is the cluster-adjusted Wilson interval
(:func:`ecdl_mm.evaluation.functional.clustered_proportion_interval`,
clusters = lesions or patients).
"""
from collections import OrderedDict
from typing import Optional

import numpy as np

from ..functional import clustered_proportion_interval
from .pivi import (DIMINUTIVE_MM, NON_NEOPLASTIC, PIVI_THRESHOLD, class_kinds,
                   diagnose_and_leave, diminutive_rectosigmoid,
                   patient_intervals, resect_and_discard)
from .predictions import LesionPredictions
from .subgroup_study import decisions_of, missing_needs


def _metadata(model: LesionPredictions, lesion_ids):
    import pandas as pd
    frame = pd.read_csv(
        model.path, dtype={
            'lesion_id': str,
            'patient_id': str
        })
    frame['lesion_id'] = frame['lesion_id'].str.strip()
    frame = frame.set_index('lesion_id').loc[list(lesion_ids)].reset_index()

    def col(name, numeric=False):
        if name not in frame or frame[name].isna().all():
            return None
        v = frame[name]
        return (pd.to_numeric(v, errors='coerce').to_numpy(float)
                if numeric else v.tolist())

    return frame, dict(
        size_mm=col('size_mm', True),
        location=col('location'),
        patient_id=col('patient_id'))


def _pooled(k_of, n_of, clusters, threshold, ci_level):
    """Cluster-adjusted Wilson entry over stacked reader 0/1 outcomes."""
    e = clustered_proportion_interval(k_of, n_of, clusters, ci_level)
    out = OrderedDict((key, e[key]) for key in ('value', 'k', 'n', 'ci_lower',
                                                'ci_upper', 'deff', 'n_eff'))
    out.update(
        threshold=threshold,
        meets_threshold=bool(e['value'] >= threshold),
        lower_bound_meets=bool(e['ci_lower'] >= threshold),
        flag=bool(not e['ci_lower'] >= threshold))
    if e['n'] == 0:
        out['note'] = 'undefined: no read in the denominator'
    return out


def reader_pivi(model: LesionPredictions,
                reads,
                guideline: str = 'usmstf2020',
                actions: Optional[dict] = None,
                ci_level: float = 0.95,
                threshold: float = PIVI_THRESHOLD) -> 'OrderedDict':
    """PIVI for the model, every reader and session, and every session.

    Args:
        model (LesionPredictions): The model file (with the metadata
            columns ``size_mm``, ``location``, ``patient_id`` when known).
        reads (ReaderReads): From :func:`~.reader_study.load_readers`.
        guideline (str): Surveillance table (``usmstf2020``/``esge2020``).
        actions (dict, optional): Class -> clinical action.
        ci_level (float), threshold (float): As :mod:`.pivi`.

    Returns:
        OrderedDict: ``needs`` (lines for missing columns), ``model``,
        ``readers`` (one row per reader and session), ``sessions`` (all
        readers pooled per session).
    """
    ids = reads.lesion_ids
    sub = model.subset(ids)
    frame, meta = _metadata(model, ids)
    kinds = class_kinds(reads.classes, actions)
    target = sub.target
    pred, unc, _ = decisions_of(frame, sub)
    size, loc, pids = meta['size_mm'], meta['location'], meta['patient_id']

    def both(p, u):
        return OrderedDict(
            diagnose_and_leave=diagnose_and_leave(p, target, kinds, size, loc,
                                                  u, ci_level, threshold),
            resect_and_discard=resect_and_discard(pids, size, p, target, kinds,
                                                  u, guideline, ci_level,
                                                  threshold))

    out = OrderedDict(
        needs=[
            line for line in missing_needs(frame) if line.startswith('PIVI')
        ],
        model=both(pred, unc),
        readers=[],
        sessions=[])
    out['model']['resect_and_discard'].pop('patients', None)
    for s, session in enumerate(reads.sessions):
        dl_k, dl_n, dl_c, rd_k, rd_c = [], [], [], [], []
        for j, reader in enumerate(reads.readers):
            if not reads.took_part(s, j):
                continue
            d = reads.diagnosis[s, j]
            row = OrderedDict(
                reader=reader, group=reads.groups[reader], session=session)
            row.update(both(d, None))
            row['resect_and_discard'].pop('patients', None)
            out['readers'].append(row)
            if size is not None and loc is not None:
                called = diminutive_rectosigmoid(size, loc) & (
                    kinds[d] == NON_NEOPLASTIC)
                dl_k.append(called & (kinds[target] == NON_NEOPLASTIC))
                dl_n.append(called)
                dl_c.append(np.arange(len(ids)))
            if pids is not None and size is not None:
                known = ~np.isnan(size) & np.array(
                    [isinstance(p, str) and bool(p.strip()) for p in pids])
                per = patient_intervals(
                    np.asarray(pids, object)[known], size[known], d[known],
                    target[known], kinds, None, guideline)
                rd_k.append(
                    [v['optical'] == v['histology'] for v in per.values()])
                rd_c.append(list(per))
        srow = OrderedDict(session=session, readers=len(dl_k or rd_k))
        if dl_k:
            srow['diagnose_and_leave'] = _pooled(
                np.concatenate(dl_k), np.concatenate(dl_n),
                np.concatenate(dl_c), threshold, ci_level)
        if rd_k:
            names = {p: i for i, p in enumerate(dict.fromkeys(sum(rd_c, [])))}
            srow['resect_and_discard'] = _pooled(
                np.concatenate(rd_k).astype(bool),
                np.ones(sum(len(x) for x in rd_k), bool),
                np.array([names[p] for p in sum(rd_c, [])]), threshold,
                ci_level)
        out['sessions'].append(srow)
    out['settings'] = OrderedDict(
        guideline=guideline,
        diminutive_mm=DIMINUTIVE_MM,
        threshold=threshold,
        pooled_interval='cluster-adjusted Wilson (lesions / patients)')
    return out

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The files of :class:`~ecdl_mm.apis.LesionInferencer`: its results as a
lesion table (:mod:`ecdl_mm.evaluation.lesion_table`) and as JSON."""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from ..evaluation.lesion_table import lesion_columns, lesion_row, metadata_keys
from ..utils.io import json_default


def results_table(
        results: List[dict],
        classes: Optional[Sequence[str]],
        metadata: Optional[Dict[str, dict]] = None) -> Tuple[list, list]:
    """Rows and header of the inferencer's lesion table.

    The columns of ``LesionMetric``'s ``lesion_predictions.csv`` plus
    ``path``: ``lesion_id``, ``num_images``, ``gt_label`` / ``gt_class``
    (when the layout gave the class of some lesion; empty for the others),
    ``prob_<class>``, ``pred_label``, ``pred_class``; with an operating point
    the raw aggregate in ``prob_*`` / ``pred_*`` and the calibrated one in
    ``cal_prob_*``, ``cal_pred_*``, ``confidence`` and ``uncertain``; with
    ``metadata`` (lesion index -> ``patient_id`` and metadata, matched on
    the last part of the lesion id) ``patient_id`` and the metadata
    columns.

    Returns:
        tuple: ``(rows, columns)``.
    """
    metas = [
        None if metadata is None else metadata.get(r['lesion_id'].rsplit(
            '/', 1)[-1]) for r in results
    ]
    rows = []
    for r, meta in zip(results, metas):
        names = classes or [f'class_{i}' for i in range(len(r['pred_scores']))]
        meta = dict(meta or {})
        kw = dict(
            patient_id=meta.pop('patient_id', None),
            path=r['path'],
            gt_label=r.get('gt_label'),
            metadata=meta)
        if 'raw_scores' in r:
            kw.update(
                cal_probs=r['pred_scores'],
                cal_pred_label=r['pred_label'],
                uncertain=r['uncertain'])
            row = lesion_row(r['lesion_id'], names, r['raw_scores'],
                             r['raw_label'], r['num_images'], **kw)
        else:
            row = lesion_row(r['lesion_id'], names, r['pred_scores'],
                             r['pred_label'], r['num_images'], **kw)
        rows.append(row)
    names = classes or ([c[5:] for c in rows[0]
                         if c.startswith('prob_')] if rows else [])
    columns = lesion_columns(
        names,
        patient=metadata is not None,
        path=True,
        gt=any(r.get('gt_label') is not None for r in results),
        calibrated=any('raw_scores' in r for r in results),
        metadata=metadata_keys([{
            k: v
            for k, v in (m or {}).items() if k != 'patient_id'
        } for m in metas]))
    return rows, columns


def dump_results_json(results: List[dict], path: str) -> None:
    """Write the full results (per lesion and per image) as JSON (drawings
    left out)."""

    def drop_drawings(r):
        out = {k: v for k, v in r.items() if k != 'visualization'}
        if 'images' in out:
            out['images'] = [drop_drawings(i) for i in out['images']]
        return out

    if osp.dirname(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump([drop_drawings(r) for r in results],
                  f,
                  indent=2,
                  default=json_default)

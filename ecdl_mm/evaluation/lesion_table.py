# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The lesion-predictions table: one row per lesion, one schema for every
writer (``LesionMetric``'s ``lesion_predictions.csv``, ``tools/infer.py``'s
CSV, the live session's ``lesions.csv``) and reader.

Columns, in this order (optional groups in brackets)::

    lesion_id, [patient_id], [path], num_images, [gt_label, gt_class],
    prob_<class>..., pred_label, pred_class,
    [cal_prob_<class>..., cal_pred_label, cal_pred_class, confidence,
     uncertain],
    [centre, size_mm, location, rectosigmoid, morphology, <extra>...]

- ``prob_*`` / ``pred_*``: the lesion's aggregated raw probabilities and
  class.
- the calibrated group, with an operating point: image (frame)
  probabilities calibrated, then aggregated (``cal_prob_*``), their class,
  the top calibrated probability (``confidence``) and ``uncertain``
  (:meth:`~ecdl_mm.evaluation.operating_point.OperatingPoint.is_uncertain`).
- the metadata group, where known (:mod:`ecdl_mm.datasets.lesion_metadata`),
  only the columns some lesion has.
"""
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..datasets.lesion_metadata import METADATA_COLUMNS

CALIBRATED = ('cal_pred_label', 'cal_pred_class', 'confidence', 'uncertain')
#: Text columns (read as ``str``; empty cells as None).
TEXT_COLUMNS = ('lesion_id', 'patient_id', 'path', 'gt_class', 'pred_class',
                'cal_pred_class', 'centre', 'location', 'morphology')
INT_COLUMNS = ('num_images', 'gt_label', 'pred_label', 'cal_pred_label')
BOOL_COLUMNS = ('uncertain', 'rectosigmoid')
FLOAT_COLUMNS = ('confidence', 'size_mm')


def lesion_columns(classes: Sequence[str],
                   patient: bool = True,
                   path: bool = False,
                   gt: bool = True,
                   calibrated: bool = False,
                   metadata: Sequence[str] = ()):
    """The header of a lesion table (see the module docstring)."""
    cols = ['lesion_id'] + (['patient_id'] if patient else []) + \
        (['path'] if path else []) + ['num_images'] + \
        (['gt_label', 'gt_class'] if gt else []) + \
        [f'prob_{c}' for c in classes] + ['pred_label', 'pred_class']
    if calibrated:
        cols += [f'cal_prob_{c}' for c in classes] + list(CALIBRATED)
    return cols + [c for c in metadata if c not in cols]


def lesion_row(lesion_id: str,
               classes: Sequence[str],
               probs: Sequence[float],
               pred_label: int,
               num_images: int,
               patient_id: Optional[str] = None,
               path: Optional[str] = None,
               gt_label: Optional[int] = None,
               cal_probs: Optional[Sequence[float]] = None,
               cal_pred_label: Optional[int] = None,
               uncertain: Optional[bool] = None,
               metadata: Optional[Mapping[str, object]] = None) -> Dict:
    """One lesion's row: every column it has a value for (the header of
    :func:`lesion_columns` picks and orders them).

    Args:
        lesion_id (str): The lesion.
        classes (Sequence[str]): The ``C`` class names.
        probs (Sequence[float]): Aggregated raw probabilities ``(C, )``.
        pred_label (int): The predicted class.
        num_images (int): Images (frames) aggregated.
        patient_id (str, optional): The patient.
        path (str, optional): Where the images were found (inferencer).
        gt_label (int, optional): The true class.
        cal_probs (Sequence[float], optional): Calibrated aggregated
            probabilities; with ``cal_pred_label`` and ``uncertain`` they
            fill the calibrated group (``confidence`` = their maximum).
        cal_pred_label (int, optional): The calibrated predicted class.
        uncertain (bool, optional): The operating point's abstention.
        metadata (Mapping, optional): Metadata column -> value.

    Returns:
        dict: Column -> value.
    """
    row = OrderedDict(
        lesion_id=lesion_id,
        patient_id=patient_id,
        path=path,
        num_images=int(num_images),
        gt_label=None if gt_label is None else int(gt_label),
        gt_class=None if gt_label is None else classes[int(gt_label)])
    row.update({f'prob_{c}': float(v) for c, v in zip(classes, probs)})
    row.update(pred_label=int(pred_label), pred_class=classes[pred_label])
    if cal_probs is not None:
        row.update({
            f'cal_prob_{c}': float(v)
            for c, v in zip(classes, cal_probs)
        })
        k = int(cal_pred_label)
        row.update(
            cal_pred_label=k,
            cal_pred_class=classes[k],
            confidence=float(np.max(cal_probs)),
            uncertain=bool(uncertain))
    for key, val in (metadata or {}).items():
        row.setdefault(key, val)
    return row


def live_lesion_table(calls,
                      classes: Sequence[str],
                      labels: Optional[Mapping[str, dict]] = None):
    """Rows and header of a live session's ``lesions.csv``: the diagnosed
    lesion calls (:meth:`ecdl_mm.apis.LesionTracker.lesion_call`) in the
    schema of ``lesion_predictions.csv`` with the calibrated group; the
    truth, ``patient_id``, ``study_id`` (the lesion id written) and
    metadata come from ``labels`` (``read_labels`` of the live session).

    The live call calibrates the aggregate of the frames' probabilities
    (the stills calibrate each image, then aggregate): the two agree
    exactly at temperature 1 and differ slightly otherwise.
    """
    classes = list(classes)
    rows, metas = [], []
    for call in calls:
        if not call['diagnosed']:
            continue
        gt = (labels or {}).get(call['lesion_id'], {})
        gt_label = gt.get('gt_label')
        if gt_label is None and gt.get('gt_class') in classes:
            gt_label = classes.index(gt['gt_class'])
        metas.append(gt.get('metadata'))
        rows.append(
            lesion_row(
                gt.get('study_id', call['lesion_id']),
                classes,
                call['pred_scores'],
                call['pred_label'],
                call['num_images'],
                patient_id=gt.get('patient_id'),
                gt_label=None if gt_label is None else int(gt_label),
                cal_probs=call['cal_scores'],
                cal_pred_label=int(np.argmax(call['cal_scores'])),
                uncertain=call['uncertain'],
                metadata=metas[-1]))
        if gt_label is None and gt.get('gt_class'):
            rows[-1]['gt_class'] = gt['gt_class']  # kept, as written
    columns = lesion_columns(
        classes, calibrated=True, metadata=metadata_keys(metas))
    return rows, columns


def metadata_keys(metadata: Sequence[Optional[Mapping]]) -> List[str]:
    """The metadata columns of some lesions, in first-seen order (the known
    ones in :data:`METADATA_COLUMNS` order)."""
    seen = list(
        OrderedDict.fromkeys(k for m in metadata if m for k in m.keys()))
    known = [c for c in METADATA_COLUMNS if c in seen]
    return known + [c for c in seen if c not in known]


def table_frame(rows: Sequence[Mapping], columns: Sequence[str]):
    """The rows as a pandas DataFrame with ``columns``; integer columns
    with empty cells stay integers (``Int64``)."""
    import pandas as pd
    df = pd.DataFrame([{
        c: r.get(c)
        for c in columns
    } for r in rows],
                      columns=list(columns))
    for col in INT_COLUMNS:
        if col in df.columns and len(df) and df[col].isna().any():
            df[col] = df[col].astype('Int64')
    return df


def write_lesion_table(rows: Sequence[Mapping], path: str,
                       columns: Sequence[str]) -> str:
    """Write the rows as CSV (``columns`` from :func:`lesion_columns`)."""
    if osp.dirname(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
    table_frame(rows, columns).to_csv(path, index=False)
    return path


def _typed(df, where: str):
    import pandas as pd

    def numeric(col):
        values = pd.to_numeric(df[col], errors='coerce')
        bad = values.isna() & df[col].notna()
        if bad.any():
            i = int(bad.to_numpy().argmax())
            raise ValueError(f'{where} line {i + 2}: {col}='
                             f'{df[col].iloc[i]!r} is not a number')
        return values

    for col in df.columns:
        if col in INT_COLUMNS:
            df[col] = numeric(col).astype('Int64')
        elif col in FLOAT_COLUMNS or col.startswith(('prob_', 'cal_prob_')):
            df[col] = numeric(col).astype(float)
        elif col in BOOL_COLUMNS:
            text = [
                None if v is None or
                (isinstance(v, float) and v != v) else str(v) for v in df[col]
            ]
            for i, v in enumerate(text):
                if v not in (None, 'True', 'False'):
                    raise ValueError(f'{where} line {i + 2}: {col}={v!r} is '
                                     'not True or False')
            df[col] = pd.Series(
                [None if v is None else v == 'True' for v in text],
                index=df.index,
                dtype=object)
    return df


def read_lesion_table(path: str):
    """Read a lesion table: text columns as ``str`` (None when empty),
    labels as ``Int64``, probabilities and ``size_mm`` as floats, flags as
    booleans; unknown (extra metadata) columns as text."""
    import pandas as pd
    if not osp.isfile(path):
        raise FileNotFoundError(f'lesion table {path} not found')
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = df.astype(object).where(df != '', None)
    try:
        return _typed(df, path)
    except (TypeError, ValueError) as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f'{path}: {e}') from None


def metadata_frame(df):
    """The metadata columns of a read table: ``patient_id``, the known
    metadata columns and every column outside the schema."""
    base = set(lesion_columns([], True, True, True, True)) - {'patient_id'}
    cols = [
        c for c in df.columns
        if c not in base and not c.startswith(('prob_', 'cal_prob_'))
    ]
    return df[cols].copy()


def table_to_json(df, path: Optional[str] = None) -> List[dict]:
    """The table as JSON records (NaN / missing as null), written to
    ``path`` when given."""
    import pandas as pd

    from ..utils.io import jsonable

    def clean(v):
        return None if not isinstance(v, (list, dict)) and pd.isna(v) else v

    records = [{
        k: clean(v)
        for k, v in rec.items()
    } for rec in df.to_dict('records')]
    records = jsonable(records)
    if path:
        with open(path, 'w') as f:
            json.dump(records, f, indent=2, allow_nan=False)
    return records


def table_from_json(records, columns: Optional[Sequence[str]] = None):
    """A table from JSON records (a list, or the path of a JSON file), typed
    as :func:`read_lesion_table` types a CSV."""
    import pandas as pd
    where = 'JSON records'
    if isinstance(records, str):
        where = records
        with open(records) as f:
            records = json.load(f)
    if columns is None:
        columns = list(
            OrderedDict.fromkeys(k for r in records for k in r.keys()))
    df = pd.DataFrame([{
        c: r.get(c)
        for c in columns
    } for r in records],
                      columns=list(columns),
                      dtype=object)
    df = df.where(df.notna(), None)
    return _typed(df, where)

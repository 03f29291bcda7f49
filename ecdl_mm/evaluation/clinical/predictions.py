# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Reading and pairing the ``lesion_predictions.csv`` files that
:class:`ecdl_mm.evaluation.LesionMetric` writes."""
import os.path as osp
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np


class StudyDataError(ValueError):
    """A study input (predictions or readers file) is malformed or the
    inputs do not fit together; the message names the file and the
    offending lesions, rows or values on one line."""


def name_list(items: Sequence, limit: int = 10) -> str:
    """``'a', 'b', ... (N in all)`` for error messages."""
    items = list(items)
    text = ', '.join(repr(str(x)) for x in items[:limit])
    if len(items) > limit:
        text += f', ... ({len(items)} in all)'
    return text


@dataclass
class LesionPredictions:
    """One model's lesion-level predictions.

    Attributes:
        path (str): The file read.
        lesion_ids (List[str]): ``N`` lesion ids, in file order.
        classes (Tuple[str, ...]): ``C`` class names (the ``prob_<class>``
            columns, in order).
        target (np.ndarray): True class indices ``(N, )``.
        scores (np.ndarray): Class probabilities ``(N, C)``.
        pred (np.ndarray): Predicted class indices ``(N, )``.
        uncertain (np.ndarray, optional): The operating point's abstention
            ``(N, )`` bool, when the file has an ``uncertain`` column.
        metadata (pandas.DataFrame, optional): ``patient_id``, the lesion
            metadata (``centre``, ``size_mm``, ``location``,
            ``rectosigmoid``, ``morphology``) and every column outside the
            lesion-table schema, one row per lesion in ``lesion_ids`` order
            (:func:`ecdl_mm.evaluation.lesion_table.metadata_frame`).
    """
    path: str
    lesion_ids: List[str]
    classes: Tuple[str, ...]
    target: np.ndarray
    scores: np.ndarray
    pred: np.ndarray
    uncertain: Optional[np.ndarray] = None
    metadata: Optional[Any] = None

    def subset(self, lesion_ids: Sequence[str]) -> 'LesionPredictions':
        """The predictions of ``lesion_ids``, in that order."""
        index = {lid: i for i, lid in enumerate(self.lesion_ids)}
        missing = [lid for lid in lesion_ids if lid not in index]
        if missing:
            raise StudyDataError(
                f'{self.path} has no prediction for {len(missing)} '
                f'lesion(s): {name_list(missing)}')
        rows = np.array([index[lid] for lid in lesion_ids], dtype=np.int64)
        return LesionPredictions(
            self.path, list(lesion_ids), self.classes, self.target[rows],
            self.scores[rows], self.pred[rows],
            None if self.uncertain is None else self.uncertain[rows],
            None if self.metadata is None else
            self.metadata.iloc[rows].reset_index(drop=True))


def load_lesion_predictions(path: str) -> LesionPredictions:
    """Read and check a ``lesion_predictions.csv``.

    Needed columns: ``lesion_id``, ``gt_class`` (or ``gt_label``) and one
    ``prob_<class>`` per class; ``pred_label`` / ``pred_class`` are used
    when present (else the most probable class); ``uncertain`` and the
    metadata columns are kept (``uncertain``, ``metadata``).

    Raises:
        StudyDataError: Naming the file and the missing column, the
            duplicated lesions, the unknown class name or the rows with
            missing or non-numeric probabilities.
    """
    import pandas as pd
    if not osp.isfile(path):
        raise StudyDataError(f'predictions file {path} not found')
    df = pd.read_csv(
        path, dtype={
            'lesion_id': str,
            'gt_class': str,
            'pred_class': str
        })
    prob_cols = [c for c in df.columns if c.startswith('prob_')]
    if 'lesion_id' not in df.columns:
        raise StudyDataError(f'{path} has no lesion_id column (columns: '
                             f'{", ".join(df.columns)})')
    if not prob_cols:
        raise StudyDataError(f'{path} has no prob_<class> columns (columns: '
                             f'{", ".join(df.columns)})')
    if 'gt_class' not in df.columns and 'gt_label' not in df.columns:
        raise StudyDataError(f'{path} has neither gt_class nor gt_label')
    classes = tuple(c[len('prob_'):] for c in prob_cols)
    if df['lesion_id'].isna().any():
        rows = (np.flatnonzero(df['lesion_id'].isna()) + 2).tolist()
        raise StudyDataError(f'{path}: empty lesion_id on line(s) {rows}')
    id_col = df['lesion_id'].str.strip()
    ids = id_col.tolist()
    dup = id_col[id_col.duplicated()].unique().tolist()
    if dup:
        raise StudyDataError(f'{path} lists {len(dup)} lesion(s) more than '
                             f'once: {name_list(dup)}')
    probs = df[prob_cols].apply(
        pd.to_numeric, errors='coerce').to_numpy(np.float64)
    bad = ~np.isfinite(probs).all(1)
    if bad.any():
        raise StudyDataError(
            f'{path}: missing or non-numeric probabilities for lesion(s) '
            f'{name_list(np.asarray(ids)[bad])}')
    target = _class_column(df, path, 'gt', classes, required=True)
    pred = _class_column(df, path, 'pred', classes, required=False)
    if pred is None:
        pred = probs.argmax(1)
    uncertain, metadata = _extras(path)
    return LesionPredictions(path, ids, classes, target, probs, pred,
                             uncertain, metadata)


def _extras(path: str):
    """``uncertain`` and the metadata columns of a lesion table."""
    from ..lesion_table import metadata_frame, read_lesion_table
    try:
        table = read_lesion_table(path)
    except ValueError as e:
        raise StudyDataError(str(e)) from None
    uncertain = None
    if 'uncertain' in table.columns:
        if table['uncertain'].isna().any():
            line = int(np.flatnonzero(table['uncertain'].isna())[0]) + 2
            raise StudyDataError(f'{path} line {line}: empty uncertain')
        uncertain = table['uncertain'].to_numpy(bool)
    meta = metadata_frame(table)
    return uncertain, (meta if len(meta.columns) else None)


def _class_column(df, path: str, prefix: str, classes: Tuple[str, ...],
                  required: bool) -> Optional[np.ndarray]:
    name_col, label_col = f'{prefix}_class', f'{prefix}_label'
    index = {c: i for i, c in enumerate(classes)}
    out = None
    if name_col in df.columns:
        names = df[name_col]
        unknown = sorted(set(names.dropna()) - set(classes))
        if unknown or names.isna().any():
            bad = unknown[0] if unknown else ''
            line = int(np.flatnonzero(~names.isin(classes))[0]) + 2
            raise StudyDataError(
                f'{path} line {line}: unknown class name {bad!r} in '
                f'{name_col} (classes from the prob_ columns: '
                f'{", ".join(classes)})')
        out = names.map(index).to_numpy(np.int64)
    if label_col in df.columns:
        labels = df[label_col]
        ok = labels.isin(range(len(classes)))
        if not ok.all():
            line = int(np.flatnonzero(~ok)[0]) + 2
            raise StudyDataError(
                f'{path} line {line}: {label_col}={labels.iloc[line - 2]!r}'
                f' is not a class index 0..{len(classes) - 1}')
        labels = labels.to_numpy(np.int64)
        if out is not None and (labels != out).any():
            line = int(np.flatnonzero(labels != out)[0]) + 2
            raise StudyDataError(
                f'{path} line {line}: {label_col} and {name_col} disagree')
        out = labels
    if out is None and required:
        raise StudyDataError(f'{path} has neither {name_col} nor {label_col}')
    return out


def align_predictions(preds: Sequence[LesionPredictions],
                      names: Sequence[str]) -> List[LesionPredictions]:
    """Put several models' predictions on the same lesions, in the order
    of the first file.

    Raises:
        StudyDataError: If the class lists differ, a file lacks lesions of
            another (the missing lesions are named) or the true labels
            disagree.
    """
    ref, ref_name = preds[0], names[0]
    ref_ids = set(ref.lesion_ids)
    for p, name in zip(preds[1:], names[1:]):
        if p.classes != ref.classes:
            raise StudyDataError(
                f'{name} ({p.path}) has classes {", ".join(p.classes)} but '
                f'{ref_name} ({ref.path}) has {", ".join(ref.classes)}')
        ids = set(p.lesion_ids)
        missing = [lid for lid in ref.lesion_ids if lid not in ids]
        if missing:
            raise StudyDataError(
                f'{name} ({p.path}) lacks {len(missing)} lesion(s) of '
                f'{ref_name} ({ref.path}): {name_list(missing)}')
        extra = [lid for lid in p.lesion_ids if lid not in ref_ids]
        if extra:
            raise StudyDataError(
                f'{ref_name} ({ref.path}) lacks {len(extra)} lesion(s) of '
                f'{name} ({p.path}): {name_list(extra)}')
    out = [ref] + [p.subset(ref.lesion_ids) for p in preds[1:]]
    for p, name in zip(out[1:], names[1:]):
        diff = np.flatnonzero(p.target != ref.target)
        if len(diff):
            items = [
                f'{ref.lesion_ids[i]} ({ref.classes[ref.target[i]]} vs '
                f'{ref.classes[p.target[i]]})' for i in diff
            ]
            raise StudyDataError(
                f'true labels disagree between {ref_name} ({ref.path}) and '
                f'{name} ({p.path}) for {len(diff)} lesion(s): '
                f'{", ".join(items[:10])}' +
                (f', ... ({len(items)} in all)' if len(items) > 10 else ''))
    return out

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The labels CSV of a live session (``tools/realtime.py --labels``): the
ground truth and metadata that ``lesions.csv`` pairs with each lesion."""
import os.path as osp
from typing import Dict


def read_labels(path: str) -> Dict[str, dict]:
    """``lesion_id`` -> ``gt_class`` / ``gt_label`` / ``patient_id`` /
    ``study_id`` and lesion metadata of a labels CSV (columns ``lesion_id``
    (the live session's lesion number) and ``gt_class`` or ``gt_label``;
    optionally ``patient_id``; ``study_id``, the lesion's id in another
    study, which ``lesions.csv`` then uses so that it pairs with that
    study's ``lesion_predictions.csv``; and the metadata columns of a split
    sheet, ``centre``, ``size_mm``, ``location``, ``morphology``, checked
    as there (:mod:`ecdl_mm.datasets.lesion_metadata`))."""
    import pandas as pd

    from ..datasets.lesion_metadata import SHEET_COLUMNS, parse_metadata_row
    if not osp.isfile(path):
        raise FileNotFoundError(f'labels file {path} not found')
    df = pd.read_csv(path, dtype=str)
    if 'lesion_id' not in df.columns or not ({'gt_class', 'gt_label'}
                                             & set(df.columns)):
        raise ValueError(f'labels file {path} needs the columns lesion_id and '
                         f'gt_class (or gt_label); it has '
                         f'{", ".join(df.columns)}')
    with_meta = any(c in df.columns for c in SHEET_COLUMNS)
    out = {}
    for i, r in df.iterrows():
        entry = {
            k: r[k]
            for k in ('gt_class', 'gt_label', 'patient_id', 'study_id')
            if k in r and isinstance(r[k], str)
        }
        if with_meta:
            entry['metadata'] = parse_metadata_row(r.to_dict(),
                                                   list(df.columns), (),
                                                   f'labels file {path}',
                                                   i + 2)
        out[str(r['lesion_id']).strip()] = entry
    return out

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Stratified, lesion-grouped (patient-grouped when patient ids are known)
split sheets for :class:`ECNBIDataset`, with a fixed seed.

``tools/dataset_converters/make_splits.py`` is the command line of
:func:`make_splits`. Columns: ``class_index``, ``class_english``,
``lesion_index`` [, ``patient_id``]; read back with
``dict(type='ECNBIDataset', ann_file='splits.xlsx', sheet_name='train',
disjoint_with=['test'])``.
"""
import os
import os.path as osp
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from .ecnbi_dataset import ECNBIDataset
from .lesion_metadata import metadata_columns
from .split_sheet import DataError, check_split_leakage

COLUMNS = ['class_index', 'class_english', 'lesion_index', 'patient_id']


def collect_lesions(data_root,
                    lesions=None,
                    sheet_name=None,
                    classes=None,
                    extra_columns=()):
    """One row per lesion, checked against the folders by ECNBIDataset,
    with the lesion metadata of the ``lesions`` sheet (if any)."""
    metainfo = dict(classes=tuple(classes)) if classes else None
    ds = ECNBIDataset(
        data_root,
        ann_file=lesions or '',
        sheet_name=sheet_name,
        metainfo=metainfo,
        check_images=False,
        extra_columns=extra_columns)
    names = ds.metainfo['classes']
    rows = OrderedDict()
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        rows.setdefault(
            info['lesion_index'],
            dict(
                class_index=info['gt_label'],
                class_english=names[info['gt_label']],
                lesion_index=info['lesion_index'],
                patient_id=info['patient_id'],
                **info.get('lesion_meta', {})))
    meta = [
        c for c in metadata_columns(
            list(next(iter(rows.values()), {})), extra_columns)
    ]
    return pd.DataFrame(list(rows.values()), columns=COLUMNS + meta)


def _groups(df, group_by='patient'):
    """The group of every lesion: its patient (lesions without one form
    their own group), itself (``'lesion'``), or its value in a column
    (e.g. ``'centre'``; an empty cell is an error)."""
    if group_by == 'lesion':
        return np.array([f'lesion:{x}' for x in df['lesion_index']])
    if group_by == 'patient':
        return np.array([
            p if p is not None and p == p else f'lesion:{l}'
            for p, l in zip(df['patient_id'], df['lesion_index'])
        ])
    if group_by not in df.columns:
        raise DataError(f'--group-by {group_by!r}: the lesion list has no '
                        f'such column; it has {list(df.columns)}')
    values = df[group_by]
    if values.isna().any():
        lesion = df['lesion_index'][values.isna()].iloc[0]
        raise DataError(f'--group-by {group_by!r}: lesion {lesion!r} has '
                        'no value')
    return np.array([f'{group_by}:{v}' for v in values])


def parse_strata(specs):
    """``['location', 'size_mm:<=5,6-9,>=10']`` -> ``[(column, bins)]``,
    bins None for grouping by value; a bin is ``<=a``, ``<a``, ``>=a``,
    ``>a``, ``a-b`` (inclusive) or a value."""
    out = []
    for spec in specs or ():
        col, _, bins = str(spec).partition(':')
        out.append((col.strip(), [b.strip()
                                  for b in bins.split(',')] if bins else None))
    return out


def _in_bin(x, item):
    for op, fn in (('<=', lambda a: x <= a), ('>=', lambda a: x >= a),
                   ('<', lambda a: x < a), ('>', lambda a: x > a)):
        if item.startswith(op):
            return fn(float(item[len(op):]))
    if '-' in item.lstrip('-'):
        lo, hi = item.rsplit('-', 1)
        return float(lo) <= x <= float(hi)
    return x == float(item)


def strata(df, specs):
    """Class index plus each stratifying column's value or bin, one string
    per lesion."""
    keys = [df['class_index'].astype(str).tolist()]
    for col, bins in parse_strata(specs):
        if col not in df.columns:
            raise DataError(f'--stratify {col!r}: the lesion list has no '
                            f'such column; it has {list(df.columns)} (give '
                            'a --lesions sheet with it)')
        vals = []
        for lesion, v in zip(df['lesion_index'], df[col]):
            if v is None or v != v:
                vals.append('NA')
            elif bins is None:
                vals.append(str(v))
            else:
                try:
                    hit = [b for b in bins if _in_bin(float(v), b)]
                except ValueError:
                    raise DataError(f'--stratify {col}: bins {bins} or value '
                                    f'{v!r} (lesion {lesion}) not numeric')
                if not hit:
                    raise DataError(f'--stratify {col}: lesion {lesion} '
                                    f'({v}) falls in none of the bins {bins}')
                vals.append(hit[0])
        keys.append(vals)
    return np.array(['|'.join(k) for k in zip(*keys)])


def ratio_split(df, ratios, seed, stratify=(), group_by='patient'):
    """Assign whole groups to train/val/test, stratified by class (and the
    ``stratify`` columns, :func:`parse_strata`).

    Each group (patient, else lesion; or ``group_by``) takes the stratum of
    most of its lesions; within each stratum the groups are shuffled with
    ``seed`` and dealt so the lesion counts follow ``ratios`` as closely as
    the groups allow.
    """
    ratios = np.asarray(ratios, float)
    if (ratios < 0).any() or not np.isclose(ratios.sum(), 1):
        raise ValueError(f'--ratios {tuple(ratios)} must be >= 0 and sum to 1')
    rng = np.random.default_rng(seed)
    groups = _groups(df, group_by)
    names, labels = np.unique(strata(df, stratify), return_inverse=True)
    if not stratify:  # the class order of the lesions, as before
        labels = df['class_index'].to_numpy()
    group_ids = list(dict.fromkeys(groups))
    size = {g: int((groups == g).sum()) for g in group_ids}
    major = {g: np.bincount(labels[groups == g]).argmax() for g in group_ids}
    assign = {}
    for cls in sorted(set(major.values())):
        members = [g for g in group_ids if major[g] == cls]
        members = [members[i] for i in rng.permutation(len(members))]
        total = sum(size[g] for g in members)
        target = ratios * total
        done = np.zeros(3)
        for g in members:
            # the split furthest below its target share takes the group
            k = int(np.argmax(target - done))
            assign[g] = k
            done[k] += size[g]
    split_of = np.array([assign[g] for g in groups])
    names = ('train', 'val', 'test')
    return OrderedDict((names[k], df[split_of == k].reset_index(drop=True))
                       for k in range(3) if ratios[k] > 0)


def fold_split(df, folds, seed, stratify=(), group_by='patient'):
    """k folds by scikit-learn's StratifiedGroupKFold (strata: class and the
    ``stratify`` columns); fold i's test part is the val sheet of fold i."""
    if folds < 2:
        raise ValueError(f'--folds {folds} must be at least 2')
    # scikit-learn on use: importing it costs ~0.8 s of every tool's start
    from sklearn.model_selection import StratifiedGroupKFold
    skf = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    y = df['class_index'] if not stratify else np.unique(
        strata(df, stratify), return_inverse=True)[1]
    out = OrderedDict()
    for i, (tr,
            va) in enumerate(skf.split(df, y, groups=_groups(df, group_by))):
        out[f'fold{i}_train'] = df.iloc[tr].reset_index(drop=True)
        out[f'fold{i}_val'] = df.iloc[va].reset_index(drop=True)
    return out


def write_splits(splits, out):
    """Write ``splits`` (name -> lesion table) to ``out``.

    ``out`` ending in ``.xlsx`` is one workbook with one sheet per split;
    any other ``out`` is a folder that gets one ``<split>.csv`` per split.
    The ``patient_id`` column is written only when some lesion has one;
    the metadata columns of the lesion list follow (``rectosigmoid`` is
    derived again when read, not written).
    """
    has_patient = any(s['patient_id'].notna().any() for s in splits.values())
    cols = COLUMNS if has_patient else COLUMNS[:3]
    first = next(iter(splits.values()))
    cols = cols + [
        c for c in first.columns if c not in COLUMNS and c != 'rectosigmoid'
    ]
    if out.lower().endswith('.xlsx'):
        if osp.dirname(out):
            os.makedirs(osp.dirname(out), exist_ok=True)
        with pd.ExcelWriter(out) as writer:
            for name, df in splits.items():
                df[cols].to_excel(writer, sheet_name=name, index=False)
    else:
        os.makedirs(out, exist_ok=True)
        for name, df in splits.items():
            df[cols].to_csv(osp.join(out, f'{name}.csv'), index=False)


def make_splits(data_root: str,
                out: str,
                lesions: Optional[str] = None,
                sheet_name: Optional[str] = None,
                ratios: Sequence[float] = (0.7, 0.1, 0.2),
                folds: Optional[int] = None,
                seed: int = 0,
                classes: Optional[Sequence[str]] = None,
                stratify: Sequence[str] = (),
                group_by: str = 'patient',
                extra_columns: Sequence[str] = ()):
    """Split the lesions of ``data_root``, check for leakage and write them.

    Args:
        data_root (str): Root of ``<class>/<lesion>/Images``.
        out (str): ``.xlsx`` workbook, or a folder for ``.csv`` files.
        lesions (str, optional): Lesion list (``.csv`` / ``.xlsx`` sheet with
            an optional ``patient_id`` column) instead of every lesion folder;
            relative to ``data_root``. Defaults to None.
        sheet_name (str, optional): Sheet of ``lesions``. Defaults to None.
        ratios (Sequence[float]): Train / val / test shares, used when
            ``folds`` is None. Defaults to ``(0.7, 0.1, 0.2)``.
        folds (int, optional): k-fold cross-validation (sheets
            ``fold{i}_train`` / ``fold{i}_val``). Defaults to None.
        seed (int): Random seed. Defaults to 0.
        classes (Sequence[str], optional): Class names in order. Defaults to
            None (``ECNBIDataset``'s).
        stratify (Sequence[str]): Columns of ``lesions`` to stratify by
            besides the class, each ``COL`` or ``COL:BINS``
            (``size_mm:<=5,6-9,>=10``). Defaults to ().
        group_by (str): ``'patient'`` (lesions of a patient stay together;
            lesions without one alone), ``'lesion'`` or a column of
            ``lesions`` (e.g. ``'centre'``). Defaults to 'patient'.
        extra_columns (Sequence[str]): Other columns of ``lesions`` to
            carry into the sheets. Defaults to ().

    Returns:
        OrderedDict: Split name -> lesion table, as written.
    """
    df = collect_lesions(data_root, lesions, sheet_name, classes,
                         extra_columns)
    if folds:
        splits = fold_split(df, folds, seed, stratify, group_by)
        for i in range(folds):
            check_split_leakage(
                {k: splits[f'fold{i}_{k}']
                 for k in ('train', 'val')})
    else:
        splits = ratio_split(df, ratios, seed, stratify, group_by)
        check_split_leakage(splits)
    write_splits(splits, out)
    return splits

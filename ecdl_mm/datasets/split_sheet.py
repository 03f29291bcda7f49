# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Reading and checking lesion split sheets (``.xlsx`` sheets or ``.csv``).

A split sheet lists the lesions of one split, one row per lesion, with the
columns ``class_index``, ``class_english`` and ``lesion_index``, an optional
``patient_id`` and optional lesion metadata (``centre``, ``size_mm``,
``location``, ``morphology`` and columns the user names; see
:mod:`.lesion_metadata`). It is the format of ``dataset_divide.xlsx`` in the
EC-DL release and of the sheets written by
``tools/dataset_converters/make_splits.py``.
"""
import os.path as osp
import warnings
from typing import Dict, Mapping, Optional, Sequence

import pandas as pd

from ..utils.errors import DataError
from .lesion_metadata import (check_extra_columns, check_patient_centres,
                              metadata_columns, parse_metadata_row)

REQUIRED_COLUMNS = ('class_index', 'class_english', 'lesion_index')
OPTIONAL_COLUMNS = ('patient_id', )


def _describe(path: str, sheet_name: Optional[str]) -> str:
    return f'{path} [sheet {sheet_name!r}]' if sheet_name else str(path)


def _clean_id(value) -> Optional[str]:
    """Normalise an id cell to a string (``2``, ``2.0`` and ``'2'`` -> '2')."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    if text == '' or text.lower() == 'nan':
        return None
    if text.endswith('.0') and text[:-2].lstrip('-').isdigit():
        text = text[:-2]
    return text


def load_split_sheet(
    path: str,
    sheet_name: Optional[str] = None,
    classes: Optional[Sequence[str]] = None,
    extra_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """Read one split sheet and check its rows.

    Args:
        path (str): A ``.csv``, ``.xlsx`` or ``.xls`` file.
        sheet_name (str, optional): The sheet to read from a workbook.
            Defaults to None, which reads the first sheet. Must be None for a
            ``.csv`` file.
        classes (Sequence[str], optional): When given, every row's
            ``class_index`` must index this sequence and its
            ``class_english`` must equal ``classes[class_index]``.
            Defaults to None.
        extra_columns (Sequence[str]): Other columns to carry as text
            (each must exist). Defaults to ().

    Returns:
        pandas.DataFrame: Columns ``class_index`` (int), ``class_english``,
        ``lesion_index`` (str), ``patient_id`` (str or None) and ``row``
        (the row number as a spreadsheet shows it, header = row 1), then the
        metadata columns the sheet has (:func:`.metadata_columns`:
        ``centre``, ``size_mm`` (float), ``location``, ``rectosigmoid``
        (derived), ``morphology``, the extra columns), None where empty.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: On an unknown file type, a missing sheet or column, an
            empty or non-integer cell, a class that disagrees with
            ``classes``, a lesion listed twice, a bad metadata cell (text in
            ``size_mm``, an unknown location or Paris class) or a patient
            in two centres.
    """
    where = _describe(path, sheet_name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'split sheet {path} does not exist')
    ext = osp.splitext(path)[1].lower()
    if ext == '.csv':
        if sheet_name is not None:
            raise DataError(f'sheet_name={sheet_name!r} was given but {path} '
                            'is a .csv file, which has no sheets')
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    elif ext in ('.xlsx', '.xls', '.xlsm'):
        try:
            df = pd.read_excel(
                path,
                sheet_name=0 if sheet_name is None else sheet_name,
                dtype=str,
                keep_default_na=False)
        except ValueError as e:
            if 'not found' in str(e):
                sheets = pd.ExcelFile(path).sheet_names
                raise DataError(f'sheet {sheet_name!r} not found in {path}; '
                                f'its sheets are {sheets}') from None
            raise
    else:
        raise DataError(f'split sheet {path} must be a .csv or .xlsx file, '
                        f'got extension {ext!r}')

    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f'{where} lacks the column(s) {missing}; '
                        f'found {list(df.columns)}')
    try:
        extra_columns = check_extra_columns(extra_columns, df.columns, where)
    except ValueError as e:
        raise DataError(str(e)) from None
    meta_cols = metadata_columns(df.columns, extra_columns)

    rows = []
    first_row = {}
    for i, rec in enumerate(df.to_dict('records')):
        row = i + 2  # as a spreadsheet numbers it, below the header
        if all(_clean_id(rec.get(c)) is None for c in REQUIRED_COLUMNS):
            continue  # trailing empty line
        lesion = _clean_id(rec['lesion_index'])
        if lesion is None:
            raise DataError(f'{where} row {row}: empty lesion_index')
        cls_idx = _clean_id(rec['class_index'])
        try:
            cls_idx = int(cls_idx)
        except (TypeError, ValueError):
            raise DataError(
                f'{where} row {row} (lesion {lesion}): class_index '
                f'{rec["class_index"]!r} is not an integer') from None
        cls_name = str(rec['class_english']).strip()
        if classes is not None:
            if not 0 <= cls_idx < len(classes):
                raise DataError(
                    f'{where} row {row} (lesion {lesion}): class_index '
                    f'{cls_idx} is outside the {len(classes)} classes '
                    f'{tuple(classes)}')
            if cls_name != classes[cls_idx]:
                raise DataError(
                    f'{where} row {row} (lesion {lesion}): class_english '
                    f'{cls_name!r} disagrees with class_index {cls_idx}, '
                    f'which is {classes[cls_idx]!r} in the dataset classes '
                    f'{tuple(classes)}')
        if lesion in first_row:
            raise DataError(
                f'{where}: duplicated lesion id {lesion!r} in rows '
                f'{first_row[lesion]} and {row}')
        first_row[lesion] = row
        patient = _clean_id(rec.get('patient_id'))
        entry = dict(
            class_index=cls_idx,
            class_english=cls_name,
            lesion_index=lesion,
            patient_id=patient,
            row=row)
        if meta_cols:
            try:
                entry.update(
                    parse_metadata_row(rec, list(df.columns), extra_columns,
                                       where, row))
            except ValueError as e:
                raise DataError(str(e)) from None
        rows.append(entry)
    try:
        check_patient_centres(rows, list(df.columns), where)
    except ValueError as e:
        raise DataError(str(e)) from None
    out = pd.DataFrame(
        rows,
        columns=list(REQUIRED_COLUMNS) + ['patient_id', 'row'] + meta_cols)
    for col in meta_cols:  # None (not NaN) for an empty cell
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def check_split_leakage(splits: Mapping[str, pd.DataFrame]) -> None:
    """Refuse a lesion or a patient that appears in more than one split.

    Args:
        splits (Mapping[str, pandas.DataFrame]): Split name to sheet, as
            returned by :func:`load_split_sheet` (``lesion_index`` and
            optional ``patient_id`` columns).

    Lesions without a patient id cannot be checked by patient: when a split
    has no ``patient_id`` at all (column missing or empty) or some of its
    lesions lack one, a warning names the split and says that those patients
    were not checked.

    Raises:
        ValueError: Naming every leaked lesion and patient with its splits.
    """
    _warn_unchecked_patients(splits)
    problems = []
    for column, what in (('lesion_index', 'lesion'), ('patient_id',
                                                      'patient')):
        seen: Dict[str, list] = {}
        for name, df in splits.items():
            if column not in df.columns:
                continue
            values = set(_clean_id(v) for v in df[column]) - {None}
            for value in sorted(values):
                seen.setdefault(value, []).append(name)
        for value, names in seen.items():
            if len(names) > 1:
                problems.append(f'{what} {value!r} is in splits {names}')
    if problems:
        shown = '; '.join(problems[:20])
        more = f' (and {len(problems) - 20} more)' if len(
            problems) > 20 else ''
        raise DataError(f'data leakage between splits: {shown}{more}')


def _warn_unchecked_patients(splits: Mapping[str, pd.DataFrame]) -> None:
    """Warn about the lesions whose patient cannot be checked for leakage."""
    unchecked = []
    for name, df in splits.items():
        if 'patient_id' not in df.columns:
            unchecked.append(f'{name} (no patient_id column)')
            continue
        missing = sum(_clean_id(v) is None for v in df['patient_id'])
        if missing == len(df):
            unchecked.append(f'{name} (patient_id column empty)')
        elif missing:
            unchecked.append(
                f'{name} ({missing} of {len(df)} lesions without patient_id)')
    if not unchecked:
        return
    msg = ('patients were NOT checked for leakage between splits: ' +
           '; '.join(unchecked) + '. Only lesion ids were compared, so a '
           'patient with lesions in two splits would go unnoticed; add a '
           'patient_id column to every split sheet.')
    # once: tools/ show warnings through the run's logger (run_cli)
    warnings.warn(msg)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Lesion metadata read from a split sheet: checked, normalised, carried.

Optional columns of a split sheet (``docs/user_guides/lesion_metadata.md``):

- ``patient_id``: any text (read by :mod:`.split_sheet`).
- ``centre``: any text; one patient belongs to one centre.
- ``size_mm``: a number > 0 (millimetres).
- ``location``: one of :data:`LOCATIONS` (lowercase words; ``Sigmoid``,
  ``sigmoid colon`` and ``cecum`` are read as ``sigmoid``, ``sigmoid`` and
  ``caecum``). ``rectosigmoid`` (True for ``sigmoid`` / ``rectum``) is
  derived from it.
- ``morphology``: a Paris class, :data:`PARIS_TYPES` (``0-Ip``, ``0-Is``,
  ``0-Isp``, ``0-IIa``, ``0-IIb``, ``0-IIc``, ``0-III``) or a mixed type of
  two or three of them joined by ``+`` with the dominant part first
  (``0-IIa+IIc``, ``0-IIc+IIa``, ``0-Is+IIc``); spelling is normalised
  (``IIa+IIc`` and ``0-iia + iic`` -> ``0-IIa+IIc``).
- any other column named in ``extra_columns``, carried as text.

An empty cell is an unknown value (None). Every problem is a
:class:`~.split_sheet.DataError` naming the sheet, row and cell.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

#: The metadata columns with a meaning (besides ``patient_id``), in the
#: order they are written to ``lesion_predictions.csv``.
METADATA_COLUMNS = ('centre', 'size_mm', 'location', 'rectosigmoid',
                    'morphology')
#: Columns read from a sheet (``rectosigmoid`` is derived, never read).
SHEET_COLUMNS = ('centre', 'size_mm', 'location', 'morphology')
LOCATIONS = ('caecum', 'ascending', 'transverse', 'descending', 'sigmoid',
             'rectum')
RECTOSIGMOID = ('sigmoid', 'rectum')
PARIS_TYPES = ('Ip', 'Is', 'Isp', 'IIa', 'IIb', 'IIc', 'III')
#: Which analyses need which column (the line printed when some are absent).
NEEDS = OrderedDict([
    ('subgroups by size', ('size_mm', )),
    ('by location', ('location', )),
    ('by centre, forest plot', ('centre', )),
    ('by morphology', ('morphology', )),
    ('PIVI diagnose-and-leave (diminutive rectosigmoid)', ('size_mm',
                                                           'location')),
    ('PIVI resect-and-discard', ('patient_id', 'size_mm')),
])
_LOCATION_ALIASES = dict(cecum='caecum')
_PARIS = {t.lower(): t for t in PARIS_TYPES}


def column_letter(index: int) -> str:
    """Spreadsheet letter of a 0-based column index (0 -> 'A', 27 ->
    'AB')."""
    out = ''
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _text(value) -> Optional[str]:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return None if text == '' or text.lower() == 'nan' else text


def parse_size(text: str) -> float:
    size = float(text)  # ValueError for text
    if not size > 0 or size == float('inf'):
        raise ValueError
    return size


def parse_location(text: str) -> str:
    word = re.sub(r'\s+colon$', '', text.strip().lower())
    word = _LOCATION_ALIASES.get(word, word)
    if word not in LOCATIONS:
        raise ValueError
    return word


def parse_morphology(text: str) -> str:
    """``'0-IIa+IIc'`` from any spelling of a Paris (mixed) type."""
    body = re.sub(r'\s+', '', text)
    body = re.sub(r'^0-?', '', body)
    parts = body.split('+')
    if not 1 <= len(parts) <= 3:
        raise ValueError
    out = []
    for part in parts:
        part = re.sub(r'^0-?', '', part)
        canon = _PARIS.get(part.lower())
        if canon is None or canon in out:
            raise ValueError
        out.append(canon)
    return '0-' + '+'.join(out)


_PARSERS = dict(
    size_mm=(parse_size, 'is not a size in mm (a number > 0)'),
    location=(parse_location,
              f'is not a location (one of {", ".join(LOCATIONS)})'),
    morphology=(parse_morphology,
                'is not a Paris class (0-Ip, 0-Is, 0-Isp, 0-IIa, 0-IIb, '
                '0-IIc, 0-III or a mix such as 0-IIa+IIc)'))


def metadata_columns(columns: Sequence[str], extra_columns=()) -> List[str]:
    """The metadata columns a sheet with ``columns`` yields, in order
    (``rectosigmoid`` after ``location``; extras last)."""
    out = []
    for col in METADATA_COLUMNS:
        source = 'location' if col == 'rectosigmoid' else col
        if source in columns:
            out.append(col)
    return out + [c for c in extra_columns if c not in out]


def check_extra_columns(extra_columns: Sequence[str], columns: Sequence[str],
                        where: str) -> List[str]:
    """Validate the user-named columns against a sheet's header."""
    if isinstance(extra_columns, str):
        extra_columns = [extra_columns]
    # the sheet's own columns and those of the lesion table
    reserved = set(METADATA_COLUMNS) | {
        'class_index', 'class_english', 'lesion_index', 'patient_id', 'row',
        'lesion_id', 'path', 'num_images', 'gt_label', 'gt_class',
        'pred_label', 'pred_class', 'cal_pred_label', 'cal_pred_class',
        'confidence', 'uncertain'
    }
    out = []
    for col in extra_columns:
        col = str(col).strip()
        if col in reserved or col.startswith(('prob_', 'cal_prob_')):
            raise ValueError(f'extra_columns: {col!r} is a column ecdl_mm '
                             'reads already; list only other columns')
        if col not in columns:
            raise ValueError(f'{where} lacks the extra column {col!r} named '
                             f'in extra_columns; found {list(columns)}')
        out.append(col)
    return out


def parse_metadata_row(rec: Dict, columns: Sequence[str],
                       extra_columns: Sequence[str], where: str,
                       row: int) -> 'OrderedDict[str, object]':
    """The checked metadata of one sheet row.

    Args:
        rec (dict): The row (column -> cell text).
        columns (Sequence[str]): The sheet's header, for cell letters.
        extra_columns (Sequence[str]): User-named columns kept as text.
        where (str): The sheet, for messages.
        row (int): The row number as a spreadsheet shows it.

    Returns:
        OrderedDict: ``centre``, ``size_mm`` (float), ``location``,
        ``rectosigmoid`` (bool), ``morphology`` (those the sheet has; None
        for an empty cell) and the extra columns.
    """
    out = OrderedDict()
    for col in metadata_columns(columns, extra_columns):
        if col == 'rectosigmoid':
            loc = out.get('location')
            out[col] = None if loc is None else loc in RECTOSIGMOID
            continue
        text = _text(rec.get(col))
        if text is not None and col in _PARSERS:
            parse, why = _PARSERS[col]
            try:
                text = parse(text)
            except (TypeError, ValueError):
                cell = f'{column_letter(list(columns).index(col))}{row}'
                raise ValueError(f'{where} row {row}, cell {cell} ({col}): '
                                 f'{rec.get(col)!r} {why}') from None
        out[col] = text
    return out


def check_patient_centres(records: Sequence[Dict], columns: Sequence[str],
                          where: str) -> None:
    """Refuse a patient listed in two centres (records with ``patient_id``,
    ``centre`` and ``row``)."""
    if 'centre' not in columns or 'patient_id' not in columns:
        return
    letter = column_letter(list(columns).index('centre'))
    first = {}
    for rec in records:
        pid, centre = rec.get('patient_id'), rec.get('centre')
        if pid is None or centre is None:
            continue
        if pid in first and first[pid][0] != centre:
            centre0, row0 = first[pid]
            raise ValueError(
                f'{where} row {rec["row"]}, cell {letter}{rec["row"]} '
                f'(centre): patient {pid!r} is in centre {centre!r} here '
                f'but in centre {centre0!r} in row {row0} (cell '
                f'{letter}{row0}); a patient belongs to one centre')
        first.setdefault(pid, (centre, rec['row']))


def metadata_needs_line(present: Sequence[str]) -> Optional[str]:
    """One line naming the analyses the absent columns rule out, or None
    when every column they need is present."""
    present = set(present)
    missing = [
        f'{what} needs {" and ".join(cols)}' for what, cols in NEEDS.items()
        if not set(cols) <= present
    ]
    if not missing:
        return None
    absent = [c for c in ('patient_id', ) + SHEET_COLUMNS if c not in present]
    # (the columns: docs/user_guides/lesion_metadata.md)
    return ('lesion metadata: the split sheet has no ' + ', '.join(absent) +
            ' column; ' + '; '.join(missing))


def sheet_metadata(sheet) -> Dict[str, 'OrderedDict[str, object]']:
    """``lesion_index`` -> ``patient_id`` and the metadata of a sheet read by
    :func:`~.split_sheet.load_split_sheet` (for matching lesions found
    elsewhere, e.g. by ``tools/infer.py --metadata``)."""
    cols = ['patient_id'] + [
        c for c in sheet.columns if c not in
        ('class_index', 'class_english', 'lesion_index', 'patient_id', 'row')
    ]
    return {
        rec['lesion_index']: OrderedDict((c, rec[c]) for c in cols)
        for rec in sheet.to_dict('records')
    }

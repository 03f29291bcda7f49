# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Flat CSV rows of the subgroup study and the splits of a split sheet
(for the flow diagram)."""
import os.path as osp
from collections import OrderedDict
from typing import List, Sequence


def flat_rows(table: dict, classes: Sequence[str]) -> List[dict]:
    """One row per group and rate: ``column, group, class, rate, value, k,
    n, ci_lower, ci_upper, note``."""
    rows = []

    def add(group, cls, rate, e):
        rows.append(
            OrderedDict(
                column=table['column'],
                group=group,
                **{'class': cls},
                rate=rate,
                value=e.get('value'),
                k=e.get('k'),
                n=e.get('n'),
                ci_lower=e.get('ci_lower'),
                ci_upper=e.get('ci_upper'),
                note=e.get('note', '')))

    for g in table['groups']:
        add(g['group'], '', 'accuracy', g['accuracy'])
        for name, e in g.get('selective', {}).items():
            add(g['group'], '', f'selective_{name}', e)
        for c in classes:
            for name, e in g['per_class'][c].items():
                add(g['group'], c, name, e)
        add(g['group'], '', 'auc_macro', g['auc_macro'])
    return rows


def heterogeneity_rows(study: dict) -> List[dict]:
    """One row per grouping and rate tested across its groups."""
    return [
        OrderedDict(
            column=t['column'],
            spec=t['spec'],
            rate=name,
            statistic=h['statistic'],
            df=h['df'],
            p_value=h['p_value'],
            note=h.get('note', '')) for t in study['groupings']
        for name, h in t['heterogeneity'].items()
    ]


def sheet_splits(path: str) -> 'OrderedDict':
    """Split name -> lesion indices of every split sheet of a workbook (or
    of a ``.csv``, named after the file). A sheet with none of the split
    columns (a notes sheet such as the synthetic metadata's ``about``) is no
    split and is left out; one with some of them is an error."""
    import pandas as pd

    from ...datasets.split_sheet import REQUIRED_COLUMNS, load_split_sheet
    if not osp.isfile(path):
        raise FileNotFoundError(f'split sheet {path} not found')
    if osp.splitext(path)[1].lower() == '.csv':
        names = [None]
    else:
        book = pd.ExcelFile(path)
        names = [
            n for n in book.sheet_names if set(REQUIRED_COLUMNS)
            & set(map(str,
                      book.parse(n, nrows=0).columns))
        ]
    out = OrderedDict()
    for name in names:
        df = load_split_sheet(path, name)
        out[name or osp.splitext(osp.basename(path))[0]] = [
            str(x) for x in df['lesion_index']
        ]
    return out

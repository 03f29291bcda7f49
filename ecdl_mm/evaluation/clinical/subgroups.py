# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Subgroup tables of a ``lesion_predictions.csv``: the lesion-level rates
of every group of a column (size bins, location, centre, morphology, any
column), with Wilson intervals and ``k/n``, the macro AUC with its lesion
bootstrap interval, and a chi-square test of homogeneity across groups.

Groupings are written ``COL`` (one group per value) or ``COL:BINS`` with
comma-separated inclusive numeric bins such as ``size_mm:<=5,6-9,>=10``
(``<=a``, ``<a``, ``>=a``, ``>a``, ``a-b``, ``a``). A lesion whose value
is empty goes to the group ``(missing)``; a number falling in no bin, or
in two, is an error naming the line.
"""
import re
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..functional import (bootstrap_distribution, confusion_matrix,
                          one_vs_rest_auc, percentile_interval, rate_fractions,
                          resampled_mean, selective_rates)
from .pivi import rate_entry
from .predictions import StudyDataError

MISSING = '(missing)'
MIN_GROUP = 30
MIN_CLASS = 5
_BIN = re.compile(r'^\s*(<=|<|>=|>)?\s*(-?\d+(?:\.\d+)?)\s*'
                  r'(?:-\s*(-?\d+(?:\.\d+)?))?\s*$')


def parse_grouping(spec: str) -> Tuple[str, Optional[List[tuple]]]:
    """``'size_mm:<=5,6-9,>=10'`` -> ``('size_mm', [(label, lo, hi,
    lo_open, hi_open), ...])``; ``'centre'`` -> ``('centre', None)``."""
    col, _, bins = spec.partition(':')
    col = col.strip()
    if not col:
        raise StudyDataError(f'--by {spec!r}: no column name')
    if not bins.strip():
        return col, None
    out = []
    for text in bins.split(','):
        m = _BIN.match(text)
        if not m:
            raise StudyDataError(
                f'--by {spec!r}: bin {text!r} is not one of <=a, <a, >=a, '
                '>a, a-b, a')
        op, a, b = m.group(1), float(m.group(2)), m.group(3)
        if b is not None:
            if op:
                raise StudyDataError(f'--by {spec!r}: bin {text!r} mixes a '
                                     'comparison and a range')
            lo, hi, lo_open, hi_open = a, float(b), False, False
        elif op in ('<=', '<'):
            lo, hi, lo_open, hi_open = -np.inf, a, False, op == '<'
        elif op in ('>=', '>'):
            lo, hi, lo_open, hi_open = a, np.inf, op == '>', False
        else:
            lo, hi, lo_open, hi_open = a, a, False, False
        out.append((text.strip(), lo, hi, lo_open, hi_open))
    return col, out


def assign_groups(frame, spec: str, path: str = 'predictions'):
    """The group label of every row for one grouping.

    Returns:
        tuple: ``(column, labels (np.ndarray of str), order (list of group
        labels, bins first in their order, then by value))``.

    Raises:
        StudyDataError: A missing column, a non-numeric cell or a value in
            no bin / two bins, naming the line (header = line 1).
    """
    import pandas as pd
    col, bins = parse_grouping(spec)
    if col not in frame.columns:
        raise StudyDataError(
            f'{path} has no column {col!r} for --by {spec} '
            f'(columns: {", ".join(map(str, frame.columns))})')
    raw = frame[col]
    empty = raw.isna() | (raw.astype(str).str.strip() == '')
    if bins is None:
        labels = np.where(empty, MISSING, raw.astype(str).str.strip())
        order = sorted(set(labels) - {MISSING}, key=_natural)
        return col, labels.astype(object), order + ([MISSING]
                                                    if empty.any() else [])
    num = pd.to_numeric(raw, errors='coerce').to_numpy(float)
    bad = np.flatnonzero(~empty.to_numpy() & np.isnan(num))
    if len(bad):
        raise StudyDataError(f'{path} line {bad[0] + 2}: {col}='
                             f'{raw.iloc[bad[0]]!r} is not a number')
    labels = np.full(len(num), MISSING, object)
    hits = np.zeros(len(num), int)
    for label, lo, hi, lo_open, hi_open in bins:
        with np.errstate(invalid='ignore'):
            inside = ((num > lo) if lo_open else
                      (num >= lo)) & ((num < hi) if hi_open else (num <= hi))
        labels[inside] = label
        hits += inside
    for what, rows in (('no bin',
                        np.flatnonzero(~np.isnan(num) & (hits == 0))),
                       ('two bins', np.flatnonzero(hits > 1))):
        if len(rows):
            raise StudyDataError(
                f'{path} line {rows[0] + 2}: {col}={num[rows[0]]:g} falls in '
                f'{what} of {spec!r} ({len(rows)} row(s) in all)')
    return col, labels, [b[0]
                         for b in bins] + ([MISSING] if empty.any() else [])


def _natural(text: str):
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def macro_auc(scores,
              target,
              num_classes,
              rounds=1000,
              seed=0,
              ci_level=0.95) -> 'OrderedDict':
    """Macro one-vs-rest AUC over the classes present (with positives and
    negatives) and its percentile lesion-bootstrap interval; ``note`` says
    why it is undefined or why the interval has zero width."""
    target = np.asarray(target)
    present = np.bincount(target, minlength=num_classes)
    defined = (present > 0) & (present < len(target))
    out = OrderedDict(
        value=float('nan'),
        ci_lower=float('nan'),
        ci_upper=float('nan'),
        n=int(len(target)),
        rounds=int(rounds),
        classes_averaged=int(defined.sum()))
    if defined.sum() == 0:
        out['note'] = ('undefined: the group holds lesions of fewer than two '
                       'classes')
        return out
    point = one_vs_rest_auc(scores, target, num_classes)
    out['value'] = float(np.mean(point[defined]))
    if rounds <= 0:
        out['note'] = 'no bootstrap rounds: no interval'
        return out
    dist = bootstrap_distribution(
        lambda w: dict(
            macro=resampled_mean(
                one_vs_rest_auc(scores, target, num_classes, w),
                defined,
                missing='skip')), len(target), rounds, seed)
    lo, hi = percentile_interval(dist['macro'], ci_level)
    out.update(ci_lower=lo, ci_upper=hi)
    if lo == hi:
        out['note'] = (f'zero-width interval: every resample gives AUC '
                       f'{lo:.3f} (the scores separate the classes perfectly '
                       f'in these {len(target)} lesions); it is not a '
                       'precise estimate')
    return out


def group_rates(pred,
                target,
                scores,
                classes: Sequence[str],
                uncertain=None,
                ci_level=0.95,
                rounds=1000,
                seed=0,
                min_group=MIN_GROUP) -> 'OrderedDict':
    """All rates of one group of lesions (see the module docstring)."""
    pred, target = np.asarray(pred), np.asarray(target)
    num_c = len(classes)
    cm = confusion_matrix(pred, target, num_c)
    frac = rate_fractions(cm)
    out = OrderedDict(n_lesions=int(len(target)))
    out['class_counts'] = OrderedDict(
        (c, int((target == k).sum())) for k, c in enumerate(classes))
    out['accuracy'] = rate_entry(*frac['accuracy'], ci_level)
    if uncertain is not None:
        sel = selective_rates(pred, target, ~np.asarray(uncertain, bool),
                              classes, ci_level)
        out['selective'] = OrderedDict(
            coverage=sel['coverage'], accuracy=sel['accuracy'])
        for e in out['selective'].values():
            if e['n'] == 0:
                e['note'] = 'undefined: no lesion in the denominator'
    out['per_class'] = OrderedDict()
    for k, c in enumerate(classes):
        out['per_class'][c] = OrderedDict(
            (name, rate_entry(frac[name][0][k], frac[name][1][k], ci_level))
            for name in ('sensitivity', 'specificity', 'ppv', 'npv'))
    out['auc_macro'] = macro_auc(scores, target, num_c, rounds, seed, ci_level)
    caveats = []
    if len(target) < min_group:
        caveats.append(f'only {len(target)} lesions (< {min_group}): wide '
                       'intervals, unstable estimates')
    few = [c for c, n in out['class_counts'].items() if 0 < n < MIN_CLASS]
    if few:
        caveats.append(f'fewer than {MIN_CLASS} lesions of {", ".join(few)}: '
                       'their sensitivities rest on a handful of cases')
    out['caveats'] = caveats
    return out


def homogeneity_test(successes: Sequence[int],
                     totals: Sequence[int]) -> 'OrderedDict':
    """Chi-square test of homogeneity of one proportion across groups
    (``scipy.stats.chi2_contingency`` on the 2 x G table, no continuity
    correction). Groups with an empty denominator are left out; ``note``
    says why a test is undefined or when expected counts are small."""
    from scipy.stats import chi2_contingency
    k = np.asarray(successes, float)
    n = np.asarray(totals, float)
    keep = n > 0
    out = OrderedDict(
        method='chi-square test of homogeneity',
        groups=int(keep.sum()),
        statistic=float('nan'),
        df=0,
        p_value=float('nan'))
    k, n = k[keep], n[keep]
    if len(n) < 2:
        out['note'] = 'undefined: fewer than two groups with lesions'
        return out
    table = np.stack([k, n - k])
    if (table.sum(1) == 0).any():
        out['note'] = ('undefined: the rate is 0 or 1 in every group (no '
                       'variation to test)')
        return out
    res = chi2_contingency(table, correction=False)
    out.update(statistic=float(res[0]), df=int(res[2]), p_value=float(res[1]))
    small = float((res[3] < 5).mean())
    if small > 0.2:
        out['note'] = (f'{small:.0%} of expected counts are under 5: the '
                       'chi-square approximation is unreliable')
    return out


def subgroup_table(frame,
                   spec: str,
                   pred,
                   target,
                   scores,
                   classes: Sequence[str],
                   uncertain=None,
                   ci_level=0.95,
                   rounds=1000,
                   seed=0,
                   min_group=MIN_GROUP,
                   path='predictions') -> 'OrderedDict':
    """One grouping: ``column``, ``spec``, ``groups`` (``group`` label +
    :func:`group_rates`) and ``heterogeneity`` (accuracy and per-class
    sensitivity, :func:`homogeneity_test`)."""
    col, labels, order = assign_groups(frame, spec, path)
    pred, target = np.asarray(pred), np.asarray(target)
    scores = np.asarray(scores, float)
    unc = None if uncertain is None else np.asarray(uncertain, bool)
    groups = []
    for g in order:
        m = labels == g
        row = OrderedDict(group=str(g))
        row.update(
            group_rates(pred[m], target[m], scores[m], classes,
                        None if unc is None else unc[m], ci_level, rounds,
                        seed, min_group))
        groups.append(row)
    het = OrderedDict()
    het['accuracy'] = homogeneity_test([g['accuracy']['k'] for g in groups],
                                       [g['accuracy']['n'] for g in groups])
    for c in classes:
        e = [g['per_class'][c]['sensitivity'] for g in groups]
        het[f'sensitivity_{c}'] = homogeneity_test([x['k'] for x in e],
                                                   [x['n'] for x in e])
    return OrderedDict(column=col, spec=spec, groups=groups, heterogeneity=het)

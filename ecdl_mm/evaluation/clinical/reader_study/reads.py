# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Reads of a reader study: loading ``readers.csv`` against the model's
lesion predictions, sessions."""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..predictions import LesionPredictions, StudyDataError, name_list
from .constants import READER_COLUMNS


@dataclass
class ReaderReads:
    """Validated reads of a fully crossed reader study.

    Attributes:
        path (str): The readers file.
        classes (Tuple[str, ...]): Class names (those of the model).
        lesion_ids (List[str]): The ``L`` lesions read, in the model file's
            order.
        readers (List[str]): ``R`` reader ids, in file order.
        groups (Dict[str, str]): Reader id to group.
        sessions (List[str]): ``S`` sessions, in file order.
        diagnosis (np.ndarray): Class indices ``(S, R, L)``; -1 where a
            reader did not take part in a session.
        confidence (np.ndarray, optional): ``(S, R, L)`` floats, or None
            without a ``confidence`` column.
    """
    path: str
    classes: Tuple[str, ...]
    lesion_ids: List[str]
    readers: List[str]
    groups: Dict[str, str]
    sessions: List[str]
    diagnosis: np.ndarray
    confidence: Optional[np.ndarray]

    def took_part(self, s: int, r: int) -> bool:
        return bool(self.diagnosis[s, r, 0] >= 0)

    def class_scores(self, s: int, r: int, k: int) -> np.ndarray:
        """A reader's score for class ``k``: the confidence when they
        diagnosed ``k``, minus the confidence otherwise (1 / 0 without
        confidences), so sure ``k`` > unsure ``k`` > unsure other > sure
        other."""
        said = self.diagnosis[s, r] == k
        if self.confidence is None:
            return said.astype(np.float64)
        conf = self.confidence[s, r]
        return np.where(said, conf, -conf)

    @property
    def group_names(self) -> List[str]:
        out = []
        for r in self.readers:
            if self.groups[r] not in out:
                out.append(self.groups[r])
        return out


def load_readers(path: str, model: LesionPredictions) -> ReaderReads:
    """Read and check a readers file.

    Columns: ``reader_id``, ``group`` (e.g. expert / non-expert),
    ``session`` (e.g. unassisted / assisted), ``lesion_id``, ``diagnosis``
    (a class name of the model) and optionally ``confidence`` (a number,
    higher = surer). One row per reader, session and lesion; every reader
    must read the same lesions in every session they take part in.

    Raises:
        StudyDataError: Naming the file and the missing column, the line of
            an empty cell, an unknown class name or a non-numeric
            confidence, lesions missing from the model's predictions, a
            reader's duplicate rows, a reader in two groups, or the lesions
            a reader did not read in a session.
    """
    import pandas as pd
    if not osp.isfile(path):
        raise StudyDataError(f'readers file {path} not found')
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in READER_COLUMNS if c not in df.columns]
    if missing:
        raise StudyDataError(
            f'{path} lacks column(s) {", ".join(missing)} (needs '
            f'{", ".join(READER_COLUMNS)}, optional confidence)')
    if not len(df):
        raise StudyDataError(f'{path} has no rows')
    for col in df.columns:
        df[col] = df[col].str.strip()
    cols = list(READER_COLUMNS)
    has_conf = 'confidence' in df.columns
    if has_conf:
        cols.append('confidence')
    for col in cols:
        empty = np.flatnonzero(df[col] == '')
        if len(empty):
            raise StudyDataError(
                f'{path} line {empty[0] + 2}: empty {col} '
                f'({len(empty)} empty cell(s) in that column)')
    classes = model.classes
    bad = np.flatnonzero(~df['diagnosis'].isin(classes))
    if len(bad):
        raise StudyDataError(
            f'{path} line {bad[0] + 2}: unknown class name '
            f'{df["diagnosis"].iloc[bad[0]]!r} in diagnosis (classes: '
            f'{", ".join(classes)})')
    if has_conf:
        conf = pd.to_numeric(df['confidence'], errors='coerce')
        bad = np.flatnonzero(~np.isfinite(conf.to_numpy(np.float64)))
        if len(bad):
            raise StudyDataError(
                f'{path} line {bad[0] + 2}: confidence '
                f'{df["confidence"].iloc[bad[0]]!r} is not a number')
        df['confidence'] = conf
    model_ids = set(model.lesion_ids)
    unknown = [x for x in df['lesion_id'].unique() if x not in model_ids]
    if unknown:
        raise StudyDataError(
            f'{path} has {len(unknown)} lesion(s) missing from the model '
            f'predictions {model.path}: {name_list(unknown)}')
    key = ['reader_id', 'session', 'lesion_id']
    dup = df[df.duplicated(key, keep=False)]
    if len(dup):
        first = dup.iloc[0]
        lines = (dup.index[(dup[key] == first[key]).all(axis=1)] + 2).tolist()
        raise StudyDataError(
            f'{path}: reader {first["reader_id"]!r} has duplicate rows for '
            f'lesion {first["lesion_id"]!r} in session {first["session"]!r}'
            f' (lines {lines}; {len(dup)} duplicated rows in all)')
    groups = df.groupby('reader_id', sort=False)['group'].unique()
    two = {r: g for r, g in groups.items() if len(g) > 1}
    if two:
        r, g = next(iter(two.items()))
        raise StudyDataError(
            f'{path}: reader {r!r} is in several groups ({", ".join(g)})')

    read = set(df['lesion_id'])
    lesion_ids = [lid for lid in model.lesion_ids if lid in read]
    readers = list(dict.fromkeys(df['reader_id']))
    sessions = list(dict.fromkeys(df['session']))
    lesion_index = {lid: i for i, lid in enumerate(lesion_ids)}
    diag = np.full((len(sessions), len(readers), len(lesion_ids)),
                   -1,
                   dtype=np.int64)
    conf = np.zeros(diag.shape) if has_conf else None
    class_index = {c: i for i, c in enumerate(classes)}
    for (reader, session), rows in df.groupby(['reader_id', 'session'],
                                              sort=False):
        s, r = sessions.index(session), readers.index(reader)
        lesions = rows['lesion_id'].map(lesion_index).to_numpy()
        if len(lesions) != len(lesion_ids):
            have = set(rows['lesion_id'])
            lacking = [lid for lid in lesion_ids if lid not in have]
            raise StudyDataError(
                f'{path}: reader {reader!r} did not read {len(lacking)} '
                f'lesion(s) in session {session!r} that other reads cover '
                f'(the study must be fully crossed): {name_list(lacking)}')
        diag[s, r, lesions] = rows['diagnosis'].map(class_index).to_numpy()
        if has_conf:
            conf[s, r, lesions] = rows['confidence'].to_numpy(np.float64)
    return ReaderReads(
        path=path,
        classes=tuple(classes),
        lesion_ids=lesion_ids,
        readers=readers,
        groups={
            r: g[0]
            for r, g in groups.items()
        },
        sessions=sessions,
        diagnosis=diag,
        confidence=conf)


def resolve_sessions(
        reads: ReaderReads,
        sessions: Optional[Sequence[str]]) -> Optional[Tuple[str, str]]:
    """The (reference, new) sessions to compare, or None.

    Without ``sessions``, ``('unassisted', 'assisted')`` when the file has
    exactly those two, else no comparison.

    Raises:
        StudyDataError: If a requested session is not in the file or a
            reader lacks one of the two.
    """
    if sessions is None:
        if set(reads.sessions) == {'unassisted', 'assisted'}:
            sessions = ('unassisted', 'assisted')
        else:
            return None
    sessions = tuple(sessions)
    if len(sessions) != 2 or sessions[0] == sessions[1]:
        raise StudyDataError(f'sessions={list(sessions)!r} must be two '
                             'different sessions: reference, then new')
    for s in sessions:
        if s not in reads.sessions:
            raise StudyDataError(
                f'session {s!r} is not in {reads.path} (its sessions: '
                f'{", ".join(reads.sessions)}); comparing {sessions[0]!r} '
                f'with {sessions[1]!r} needs both')
    si = [reads.sessions.index(s) for s in sessions]
    lacking = [(r, sessions[k]) for j, r in enumerate(reads.readers)
               for k, s in enumerate(si) if not reads.took_part(s, j)]
    if lacking:
        items = ', '.join(f'{r!r} has no {s!r} session'
                          for r, s in lacking[:10])
        raise StudyDataError(f'{reads.path}: {items}')
    return sessions

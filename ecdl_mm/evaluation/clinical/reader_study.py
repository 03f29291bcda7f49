# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Reader studies: endoscopists against the model, reading without against
with AI assistance (multi-reader multi-case), inter-reader agreement."""
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..functional import weighted_auc
from ..stats import (bootstrap_multiplicities, fleiss_kappa, mcnemar_test,
                     obuchowski_rockette, pairwise_cohen_kappa,
                     percentile_interval, reader_fom, weighted_rates,
                     wilson_interval)
from .model_comparison import paired_outcomes
from .predictions import LesionPredictions, StudyDataError, name_list

READER_COLUMNS = ('reader_id', 'group', 'session', 'lesion_id', 'diagnosis')
ALL_READERS = 'all readers'
FOM_KINDS = ('accuracy', 'sensitivity', 'specificity', 'auc')


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


def rate_metric_names(classes: Sequence[str]) -> List[str]:
    return (['accuracy'] + [f'sensitivity_{c}' for c in classes] +
            [f'specificity_{c}' for c in classes])


def _rate_counts(metric: str, classes: Sequence[str], target: np.ndarray,
                 pred: np.ndarray) -> Tuple[int, int]:
    cases, right, _ = paired_outcomes(metric, classes, target, pred, pred)
    return int(right[cases].sum()), int(cases.sum())


def _boot_rates(pred: np.ndarray, target: np.ndarray, weights: np.ndarray,
                classes: Sequence[str]) -> Dict[str, np.ndarray]:
    rates = weighted_rates(pred, target, weights, len(classes))
    out = dict(accuracy=rates['accuracy'])
    for k, c in enumerate(classes):
        out[f'sensitivity_{c}'] = rates['sensitivity'][:, k]
        out[f'specificity_{c}'] = rates['specificity'][:, k]
    return out


def consensus(diagnosis: np.ndarray, confidence: Optional[np.ndarray],
              num_classes: int) -> Tuple[np.ndarray, int]:
    """Plurality diagnosis of a group of readers per lesion.

    Ties go to the class with the larger summed confidence, then to the
    lower class index.

    Args:
        diagnosis (np.ndarray): ``(R, L)``.
        confidence (np.ndarray, optional): ``(R, L)``.
        num_classes (int): ``C``.

    Returns:
        tuple: ``(L, )`` consensus and the number of tied lesions.
    """
    onehot = np.eye(num_classes)[diagnosis]  # (R, L, C)
    votes = onehot.sum(0)
    top = votes.max(1, keepdims=True)
    tied = int(((votes == top).sum(1) > 1).sum())
    conf = (confidence[..., None] * onehot).sum(0) if confidence is not None \
        else np.zeros_like(votes)
    # votes dominate; confidence breaks ties, argmax takes the lowest index
    key = np.where(votes == top, 1.0, 0.0) * (1 + conf - conf.min())
    return key.argmax(1), tied


def interval_row(leading: Dict[str, object], value: float, ci: Tuple[float,
                                                                     float],
                 **trailing) -> 'OrderedDict[str, object]':
    """The row shape of every estimate of the study: ``leading`` fields,
    ``value``, ``ci_lower``, ``ci_upper``, then ``trailing`` fields.

    :func:`ecdl_mm.evaluation.report.reader_report.interval_cell` reads it
    back.
    """
    return OrderedDict(
        **leading, value=value, ci_lower=ci[0], ci_upper=ci[1], **trailing)


@dataclass
class _Study:
    """What every table of :func:`run_reader_study` is computed from."""
    reads: ReaderReads
    pred: np.ndarray  # the model's diagnosis of the ``L`` lesions read
    scores: np.ndarray  # (L, C)
    target: np.ndarray
    members: 'OrderedDict[str, List[int]]'  # group -> reader indices
    parts: List[Tuple[int, int]]  # (session, reader) that took part
    ci_level: float
    exact_below: int

    @property
    def classes(self) -> Tuple[str, ...]:
        return self.reads.classes

    @property
    def metrics(self) -> List[str]:
        return rate_metric_names(self.classes)

    def sessions_of(self, js: Sequence[int], s: int) -> List[int]:
        """The readers of ``js`` who took part in session ``s``."""
        return [j for j in js if (s, j) in self.parts]


def _make_study(model: LesionPredictions, reads: ReaderReads, ci_level: float,
                exact_below: int) -> _Study:
    m = model.subset(reads.lesion_ids)
    group_names = reads.group_names
    members = OrderedDict(
        (g, [j for j, r in enumerate(reads.readers) if reads.groups[r] == g])
        for g in group_names)
    if len(group_names) > 1:
        members[ALL_READERS] = list(range(len(reads.readers)))
    parts = [(s, j) for j in range(len(reads.readers))
             for s in range(len(reads.sessions)) if reads.took_part(s, j)]
    return _Study(reads, m.pred, m.scores, m.target, members, parts, ci_level,
                  exact_below)


def bootstrap_study(st: _Study, rounds: int, seed: int) -> Tuple[dict, dict]:
    """One pass of paired lesion-bootstrap resamples for every estimate.

    Returns:
        tuple: The model's resampled rates and AUCs (``{metric: (B, )}``)
        and each reader's and session's rates
        (``{(s, j): {metric: (B, )}}``).
    """
    classes, target = st.classes, st.target
    onehot = np.eye(len(classes), dtype=bool)[target]
    boot_model, boot_reader = {}, {p: {} for p in st.parts}
    for w in bootstrap_multiplicities(len(target), rounds, seed):
        for key, val in _boot_rates(st.pred, target, w, classes).items():
            boot_model.setdefault(key, []).append(val)
        for k, c in enumerate(classes):
            boot_model.setdefault(f'auc_{c}', []).append(
                weighted_auc(st.scores[:, k], onehot[:, k], w))
        for (s, j) in st.parts:
            rates = _boot_rates(st.reads.diagnosis[s, j], target, w, classes)
            for key, val in rates.items():
                boot_reader[(s, j)].setdefault(key, []).append(val)
    boot_model = {k: np.concatenate(v) for k, v in boot_model.items()}
    boot_reader = {
        p: {
            k: np.concatenate(v)
            for k, v in d.items()
        }
        for p, d in boot_reader.items()
    }
    return boot_model, boot_reader


def model_table(st: _Study, boot_model: dict) -> List[dict]:
    """The model: rates with Wilson intervals, AUCs with bootstrap ones."""
    rows = []
    for metric in st.metrics:
        succ, total = _rate_counts(metric, st.classes, st.target, st.pred)
        rows.append(
            interval_row(
                dict(metric=metric),
                succ / total if total else float('nan'),
                wilson_interval(succ, total, st.ci_level),
                interval='Wilson'))
    from sklearn.metrics import roc_auc_score
    for k, c in enumerate(st.classes):
        pos = st.target == k
        val = (
            roc_auc_score(pos, st.scores[:, k])
            if 0 < pos.sum() < len(pos) else float('nan'))
        rows.append(
            interval_row(
                dict(metric=f'auc_{c}'),
                float(val),
                percentile_interval(boot_model[f'auc_{c}'], st.ci_level),
                interval='bootstrap'))
    return rows


def reader_table(st: _Study) -> List[dict]:
    """Every reader and session: rates with Wilson intervals."""
    reads, rows = st.reads, []
    for (s, j) in st.parts:
        for metric in st.metrics:
            succ, total = _rate_counts(metric, st.classes, st.target,
                                       reads.diagnosis[s, j])
            rows.append(
                interval_row(
                    dict(
                        reader=reads.readers[j],
                        group=reads.groups[reads.readers[j]],
                        session=reads.sessions[s],
                        metric=metric),
                    succ / total if total else float('nan'),
                    wilson_interval(succ, total, st.ci_level),
                    successes=succ,
                    total=total))
    return rows


def _reader_values(st: _Study, reader_rows: List[dict]) -> dict:
    """``{(s, j, metric): value}`` of :func:`reader_table`'s rows."""
    s_of, j_of = st.reads.sessions.index, st.reads.readers.index
    return {
        (s_of(r['session']), j_of(r['reader']), r['metric']): r['value']
        for r in reader_rows
    }


def group_table(st: _Study, reader_values: dict,
                boot_reader: dict) -> Tuple[List[dict], dict]:
    """Reader means per group and session, lesion-bootstrap intervals.

    Returns:
        tuple: The rows and the resampled means
        ``{(group, s, metric): (B, )}``.
    """
    rows, group_boot = [], {}
    for g, js in st.members.items():
        for s in range(len(st.reads.sessions)):
            js_s = st.sessions_of(js, s)
            if not js_s:
                continue
            for metric in st.metrics:
                val = float(
                    np.mean([reader_values[(s, j, metric)] for j in js_s]))
                boot = np.mean([boot_reader[(s, j)][metric] for j in js_s],
                               axis=0)
                group_boot[(g, s, metric)] = boot
                rows.append(
                    interval_row(
                        dict(
                            group=g,
                            session=st.reads.sessions[s],
                            num_readers=len(js_s),
                            metric=metric), val,
                        percentile_interval(boot, st.ci_level)))
    return rows, group_boot


def _paired(st: _Study,
            metric: str,
            pred_a: np.ndarray,
            pred_b: np.ndarray,
            boot_diff: np.ndarray,
            only: Tuple[str, str],
            against: str = ''):
    """McNemar on the paired lesions and the bootstrap interval of the
    difference: the fields every paired row shares."""
    cases, right_a, right_b = paired_outcomes(metric, st.classes, st.target,
                                              pred_a, pred_b)
    mc = mcnemar_test(right_a[cases], right_b[cases], st.exact_below)
    lo, hi = percentile_interval(boot_diff, st.ci_level)
    fields = OrderedDict(
        ci_lower=lo,
        ci_upper=hi,
        test=f'McNemar {mc["method"]}{against}',
        statistic=mc['statistic'],
        p_value=mc['p_value'])
    fields[only[0]], fields[only[1]] = mc['a_only'], mc['b_only']
    return fields, cases, right_b


def model_vs_readers_table(st: _Study, model_rows: List[dict],
                           reader_values: dict, group_rows: List[dict],
                           boot_model: dict, boot_reader: dict,
                           group_boot: dict) -> List[dict]:
    """Model minus reader (McNemar on the paired lesions) and model minus
    group mean (bootstrap interval; McNemar against the group's plurality
    diagnosis)."""
    reads, num_c = st.reads, len(st.classes)
    model_values = {r['metric']: r['value'] for r in model_rows}
    group_values = {
        (r['group'], reads.sessions.index(r['session']), r['metric']):
        r['value']
        for r in group_rows
    }
    vs_only = ('model_only', 'readers_only')
    rows = []
    for (s, j) in st.parts:
        for metric in st.metrics:
            fields, _, _ = _paired(
                st, metric, st.pred, reads.diagnosis[s, j],
                boot_model[metric] - boot_reader[(s, j)][metric], vs_only)
            rv = reader_values[(s, j, metric)]
            rows.append(
                OrderedDict(
                    versus='reader',
                    name=reads.readers[j],
                    session=reads.sessions[s],
                    metric=metric,
                    model=model_values[metric],
                    readers=rv,
                    difference=model_values[metric] - rv,
                    **fields))
    for g, js in st.members.items():
        for s in range(len(reads.sessions)):
            js_s = st.sessions_of(js, s)
            if not js_s:
                continue
            conf = (
                reads.confidence[s, js_s]
                if reads.confidence is not None else None)
            cons, tied = consensus(reads.diagnosis[s, js_s], conf, num_c)
            for metric in st.metrics:
                fields, cases, right_c = _paired(
                    st,
                    metric,
                    st.pred,
                    cons,
                    boot_model[metric] - group_boot[(g, s, metric)],
                    vs_only,
                    against=' vs consensus')
                gv = group_values[(g, s, metric)]
                rows.append(
                    OrderedDict(
                        versus='group',
                        name=g,
                        session=reads.sessions[s],
                        metric=metric,
                        model=model_values[metric],
                        readers=gv,
                        difference=model_values[metric] - gv,
                        **fields,
                        consensus_value=float(right_c[cases].mean())
                        if cases.any() else float('nan'),
                        consensus_ties=tied))
    return rows


def session_table(st: _Study, pair: Tuple[str, str], reader_values: dict,
                  boot_reader: dict) -> List[dict]:
    """Per reader, session ``pair[1]`` minus ``pair[0]`` (McNemar,
    bootstrap interval)."""
    reads, rows = st.reads, []
    s0, s1 = (reads.sessions.index(x) for x in pair)
    for j, reader in enumerate(reads.readers):
        for metric in st.metrics:
            fields, _, _ = _paired(
                st, metric, reads.diagnosis[s1, j], reads.diagnosis[s0, j],
                boot_reader[(s1, j)][metric] - boot_reader[(s0, j)][metric],
                ('new_only', 'reference_only'))
            v0 = reader_values[(s0, j, metric)]
            v1 = reader_values[(s1, j, metric)]
            rows.append(
                OrderedDict(
                    reader=reader,
                    group=reads.groups[reader],
                    metric=metric,
                    reference=v0,
                    new=v1,
                    difference=v1 - v0,
                    **fields))
    return rows


def mrmc_table(st: _Study, pair: Tuple[str, str],
               foms: List[Tuple[str, Optional[int]]]) -> List[dict]:
    """Per group and figure of merit, Obuchowski-Rockette with jackknife
    covariances and Hillis' df (random readers and cases; also fixed
    readers)."""
    sessions = tuple(st.reads.sessions.index(x) for x in pair)
    return [
        _mrmc_row(st.reads, st.target, sessions, js, g, fom_kind, k,
                  st.ci_level) for g, js in st.members.items()
        for fom_kind, k in foms
    ]


def agreement_table(st: _Study) -> List[dict]:
    """Per session, Fleiss' kappa per group and of all readers, pairwise
    Cohen's kappa (readers and the model)."""
    reads, num_c, agreement = st.reads, len(st.classes), []
    for s, session in enumerate(reads.sessions):
        js = [j for j in range(len(reads.readers)) if reads.took_part(s, j)]
        fleiss = []
        for g, gjs in st.members.items():
            gjs = [j for j in gjs if j in js]
            if len(gjs) < 2:
                fleiss.append(
                    OrderedDict(
                        group=g,
                        num_readers=len(gjs),
                        kappa=float('nan'),
                        note='needs >= 2 readers'))
                continue
            fleiss.append(
                OrderedDict(
                    group=g,
                    num_readers=len(gjs),
                    kappa=fleiss_kappa(reads.diagnosis[s, gjs].T, num_c)))
        names = [reads.readers[j] for j in js] + ['model']
        ratings = np.concatenate([reads.diagnosis[s, js].T, st.pred[:, None]],
                                 axis=1)
        cohen = pairwise_cohen_kappa(ratings, range(num_c))
        agreement.append(
            OrderedDict(
                session=session,
                fleiss=fleiss,
                cohen_names=names,
                cohen=cohen.tolist()))
    return agreement


def run_reader_study(model: LesionPredictions,
                     reads: ReaderReads,
                     sessions: Optional[Sequence[str]] = None,
                     foms: Optional[Sequence[str]] = None,
                     bootstrap_rounds: int = 2000,
                     seed: int = 0,
                     ci_level: float = 0.95,
                     exact_below: int = 25) -> Dict[str, object]:
    """All analyses of a reader study, JSON-ready.

    * ``model``: the model on the lesions read (:func:`model_table`).
    * ``reader_metrics``: accuracy and per-class sensitivity and
      specificity of every reader and session (:func:`reader_table`).
    * ``group_metrics``: the same averaged over the readers of each group
      (and all readers), lesion-bootstrap intervals (a resample keeps all
      reads of a lesion together; :func:`group_table`).
    * ``model_vs_readers``: :func:`model_vs_readers_table`.
    * ``session_comparison`` (when two sessions are compared):
      :func:`session_table`; ``mrmc``: :func:`mrmc_table`.
    * ``agreement``: :func:`agreement_table`.

    Args:
        model (LesionPredictions): The model's predictions (a superset of
            the lesions read).
        reads (ReaderReads): From :func:`load_readers`.
        sessions (Sequence[str], optional): ``(reference, new)`` sessions
            to compare; see :func:`resolve_sessions`.
        foms (Sequence[str], optional): MRMC figures of merit among
            ``accuracy``, ``sensitivity``, ``specificity``, ``auc`` (the
            per-class ones run for every class). Defaults to all, ``auc``
            only with confidences.
        bootstrap_rounds (int): Lesion-bootstrap resamples.
            Defaults to 2000.
        seed (int): Bootstrap seed. Defaults to 0.
        ci_level (float): Interval level. Defaults to 0.95.
        exact_below (int): McNemar exact-test threshold. Defaults to 25.
    """
    pair = resolve_sessions(reads, sessions)
    foms = _check_foms(foms, reads, pair)
    classes = reads.classes
    st = _make_study(model, reads, ci_level, exact_below)
    boot_model, boot_reader = bootstrap_study(st, bootstrap_rounds, seed)
    model_rows = model_table(st, boot_model)
    reader_rows = reader_table(st)
    reader_values = _reader_values(st, reader_rows)
    group_rows, group_boot = group_table(st, reader_values, boot_reader)
    vs_rows = model_vs_readers_table(st, model_rows, reader_values, group_rows,
                                     boot_model, boot_reader, group_boot)
    session_rows, mrmc_rows = [], []
    if pair is not None:
        session_rows = session_table(st, pair, reader_values, boot_reader)
        mrmc_rows = mrmc_table(st, pair, foms)

    return OrderedDict(
        classes=list(classes),
        model_path=model.path,
        readers_path=reads.path,
        num_lesions=len(reads.lesion_ids),
        class_counts={
            c: int((st.target == k).sum())
            for k, c in enumerate(classes)
        },
        readers=[dict(reader=r, group=reads.groups[r]) for r in reads.readers],
        sessions=reads.sessions,
        compared_sessions=list(pair) if pair else None,
        has_confidence=reads.confidence is not None,
        settings=dict(
            bootstrap_rounds=bootstrap_rounds,
            seed=seed,
            ci_level=ci_level,
            mcnemar_exact_below=exact_below,
            mrmc_foms=[_fom_name(f, k, classes) for f, k in foms]),
        model=model_rows,
        reader_metrics=reader_rows,
        group_metrics=group_rows,
        model_vs_readers=vs_rows,
        session_comparison=session_rows,
        mrmc=mrmc_rows,
        agreement=agreement_table(st))


def _fom_name(kind: str, k: Optional[int], classes: Sequence[str]) -> str:
    return kind if k is None else f'{kind}_{classes[k]}'


def _check_foms(foms, reads: ReaderReads, pair) -> List[Tuple[str, int]]:
    if foms is None:
        foms = [
            f for f in FOM_KINDS if f != 'auc' or reads.confidence is not None
        ]
    out = []
    for f in foms:
        if f not in FOM_KINDS:
            raise StudyDataError(f'MRMC figure of merit {f!r} must be one '
                                 f'of {", ".join(FOM_KINDS)}')
        if f == 'auc' and reads.confidence is None:
            raise StudyDataError(
                f"the MRMC figure of merit 'auc' needs a confidence column "
                f'in {reads.path}')
        if f == 'accuracy':
            out.append((f, None))
        else:
            out.extend((f, k) for k in range(len(reads.classes)))
    return out


def _mrmc_row(reads: ReaderReads, target, sessions, js, group, kind, k,
              ci_level) -> 'OrderedDict[str, object]':
    row = OrderedDict(
        group=group,
        fom=_fom_name(kind, k, reads.classes),
        num_readers=len(js),
        num_lesions=len(target))
    diag = reads.diagnosis[list(sessions)][:, js]  # (2, r, L)
    try:
        if kind == 'auc':
            scores = np.stack([
                np.stack([reads.class_scores(s, j, k) for j in js])
                for s in sessions
            ])
            res = reader_fom('auc', target, diag, k, scores=scores)
        else:
            res = reader_fom(kind, target, diag, k)
        out = obuchowski_rockette(res['fom'], res['jackknife'], ci_level)
    except ValueError as e:
        row.update(error=str(e))
        return row
    rr, fr = out['rrrc'], out['frrc']
    row.update(
        reference=out['modality_fom'][0],
        new=out['modality_fom'][1],
        difference=rr['differences'][0]['difference'],
        ci_lower=rr['differences'][0]['ci_lower'],
        ci_upper=rr['differences'][0]['ci_upper'],
        f=rr['f'],
        df1=rr['df1'],
        df2=rr['df2'],
        p_value=rr['p_value'],
        frrc_chi2=fr['chi2'],
        frrc_p_value=fr['p_value'],
        frrc_ci_lower=fr['differences'][0]['ci_lower'],
        frrc_ci_upper=fr['differences'][0]['ci_upper'],
        ms_t=out['ms_t'],
        ms_tr=out['ms_tr'],
        var=out['var'],
        cov1=out['cov1'],
        cov2=out['cov2'],
        cov3=out['cov3'],
        reader_fom=res['fom'].tolist())
    return row

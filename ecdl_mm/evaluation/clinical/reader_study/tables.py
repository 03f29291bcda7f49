# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The tables of a reader study: model, readers, groups, model vs
readers, sessions, MRMC, agreement."""
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ...stats import (fleiss_kappa, mcnemar_test, obuchowski_rockette,
                      pairwise_cohen_kappa, percentile_interval, reader_fom,
                      wilson_interval)
from ..model_comparison import paired_outcomes
from ..predictions import StudyDataError
from .bootstrap import _rate_counts, _Study, consensus, interval_row
from .constants import FOM_KINDS
from .reads import ReaderReads


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

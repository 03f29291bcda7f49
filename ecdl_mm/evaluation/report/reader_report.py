# Copyright (c) ecdl_mm contributors. All rights reserved.
"""HTML report and the readers-on-ROC figure of a reader study."""
from typing import Optional

import numpy as np

from ..clinical.predictions import LesionPredictions
from ..clinical.reader_study import ReaderReads, rate_metric_names
from .figures import difference_forest, kappa_heatmap, roc_with_readers
from .html import Cell, HtmlReport, figure_png


def reader_roc_figure(results: dict, model: LesionPredictions,
                      reads: ReaderReads):
    """Per class, the model's ROC curve on the lesions read with each
    reader's (1 - specificity, sensitivity) in every session."""
    classes = results['classes']
    values = {}
    for r in results['reader_metrics']:
        values[(r['reader'], r['session'], r['metric'])] = r['value']
    points = []
    for r in reads.readers:
        for s in reads.sessions:
            if (r, s, 'accuracy') not in values:
                continue
            points.append(
                dict(
                    reader=r,
                    group=reads.groups[r],
                    session=s,
                    tpr=[values[(r, s, f'sensitivity_{c}')] for c in classes],
                    fpr=[
                        1 - values[(r, s, f'specificity_{c}')] for c in classes
                    ]))
    m = model.subset(reads.lesion_ids)
    return roc_with_readers(m.target, m.scores, classes, points,
                            reads.sessions, reads.group_names)


def _label(metric: str) -> str:
    """Short column header: ``sensitivity_x`` -> ``sens. x``."""
    for long, short in (('sensitivity_', 'sens. '), ('specificity_',
                                                     'spec. ')):
        if metric.startswith(long):
            return short + metric[len(long):]
    return metric


def interval_cell(row: dict, key: list, field: str = 'value') -> Cell:
    """``row[field]`` with the row's interval, as a table cell.

    ``row`` is one of the study's estimate rows
    (:func:`~ecdl_mm.evaluation.clinical.reader_study.interval_row`, or a
    paired row with ``difference``), ``key`` its JSON path.
    """
    return Cell(
        row[field],
        key=key + [field],
        ci=(row['ci_lower'], row['ci_upper']),
        ci_keys=(key + ['ci_lower'], key + ['ci_upper']))


def _wide(rows, id_fields, metrics, json_name):
    """Pivot long metric rows into one row per ``id_fields`` value."""
    table, index = [], {}
    for i, r in enumerate(rows):
        ident = tuple(r[f] for f in id_fields)
        if ident not in index:
            index[ident] = len(table)
            table.append(list(ident) + [None] * len(metrics))
        key = [json_name, i]
        table[index[ident]][len(id_fields) + metrics.index(r['metric'])] = \
            interval_cell(r, key)
    return table


def _summary(rep: HtmlReport, results: dict, level: float) -> None:
    """Accuracy of readers and model per group and session, and the MRMC
    accuracy comparison of the sessions."""
    model_i = [r['metric'] for r in results['model']].index('accuracy')
    groups = {
        (r['group'], r['session']): i
        for i, r in enumerate(results['group_metrics'])
        if r['metric'] == 'accuracy'
    }
    rows = []
    for i, r in enumerate(results['model_vs_readers']):
        if r['versus'] != 'group' or r['metric'] != 'accuracy':
            continue
        g = groups[(r['name'], r['session'])]
        gr = results['group_metrics'][g]
        key, gkey = ['model_vs_readers', i], ['group_metrics', g]
        rows.append([
            r['name'], r['session'], gr['num_readers'],
            interval_cell(gr, gkey),
            Cell(r['model'], key=['model', model_i, 'value']),
            interval_cell(r, key, 'difference'),
            Cell(
                r['p_value'],
                'p',
                key=key + ['p_value'],
                highlight=r['p_value'] < 0.05)
        ])
    rep.table([
        'readers', 'session', 'n', f'readers accuracy ({level:.0%} CI)',
        'model accuracy', f'model - readers ({level:.0%} CI)',
        'p (McNemar, model vs consensus)'
    ],
              rows,
              'summary_accuracy',
              caption='Accuracy on the lesions read')
    rows = []
    for i, r in enumerate(results['mrmc']):
        if r['fom'] != 'accuracy' or 'error' in r:
            continue
        key = ['mrmc', i]
        rows.append([
            r['group'], r['num_readers'],
            Cell(r['reference'], key=key + ['reference']),
            Cell(r['new'], key=key + ['new']),
            interval_cell(r, key, 'difference'),
            Cell(
                r['p_value'],
                'p',
                key=key + ['p_value'],
                highlight=r['p_value'] < 0.05)
        ])
    if rows:
        ref, new = results['compared_sessions']
        rep.table([
            'readers', 'n', ref, new, f'{new} - {ref} ({level:.0%} CI)',
            'p (MRMC, random readers and cases)'
        ],
                  rows,
                  'summary_mrmc',
                  caption=f'Accuracy {new} against {ref}: '
                  'Obuchowski-Rockette, jackknife covariances, Hillis df')


def build_reader_report(results: dict,
                        model: LesionPredictions,
                        reads: ReaderReads,
                        title: str = 'Reader study',
                        note: Optional[str] = None) -> HtmlReport:
    """The report of :func:`ecdl_mm.evaluation.clinical.run_reader_study`.

    Args:
        results (dict): Its output (every number shown is keyed to it).
        model (LesionPredictions): The model's predictions.
        reads (ReaderReads): The reads.
        title (str): Page title.
        note (str, optional): A banner at the top, e.g. that the readers
            are simulated.
    """
    classes = results['classes']
    metrics = rate_metric_names(classes)
    s = results['settings']
    level = s['ci_level']
    rep = HtmlReport(
        title, f'{len(results["readers"])} readers, '
        f'{results["num_lesions"]} lesions, sessions: '
        f'{", ".join(results["sessions"])}')

    rep.section('Summary', 'summary')
    if note:
        rep.banner(note)
    _summary(rep, results, level)
    rep.figure(
        figure_png(reader_roc_figure(results, model, reads)),
        'Model ROC curve per class (one-vs-rest) with every reader\'s '
        'operating point: hollow = first session, filled = later; '
        'arrows join a reader\'s sessions.')

    rep.section('Inputs', 'inputs')
    rep.table(['item', 'value'], [
        ['model predictions', results['model_path']],
        ['readers file', results['readers_path']],
        [
            'lesions read',
            Cell(results['num_lesions'], 'int', key=['num_lesions'])
        ],
        [
            'compared sessions', ' -> '.join(results['compared_sessions'])
            if results['compared_sessions'] else 'none'
        ],
        ['reader confidences', 'yes' if results['has_confidence'] else 'no'],
    ] + [[f'lesions of class {c}',
          Cell(n, 'int', key=['class_counts', c])]
         for c, n in results['class_counts'].items()], 'inputs')
    rep.table(['reader', 'group'], [[r['reader'], r['group']]
                                    for r in results['readers']], 'readers')
    rep.text(
        f'Intervals ({level:.0%}): Wilson for a single reader or the model; '
        f'percentile over {s["bootstrap_rounds"]} lesion-bootstrap '
        'resamples (all reads of a lesion kept together) for group means, '
        'model AUCs and differences. Paired tests: McNemar (exact binomial '
        f'below {s["mcnemar_exact_below"]} discordant lesions). '
        'p-values are not adjusted for multiple comparisons.',
        note=True)

    rep.section('Model and readers', 'performance')
    rows = []
    for i, r in enumerate(results['model']):
        key = ['model', i]
        rows.append([r['metric'], interval_cell(r, key), r['interval']])
    rep.table(['metric', f'model ({level:.0%} CI)', 'interval'],
              rows,
              'model',
              caption='The model on the lesions read')
    labels = [_label(m) for m in metrics]
    rep.table(
        ['reader', 'group', 'session'] + labels,
        _wide(results['reader_metrics'], ('reader', 'group', 'session'),
              metrics, 'reader_metrics'),
        'reader_metrics',
        caption='Each reader and session (Wilson CI)')
    rep.table(
        ['group', 'session', 'readers'] + labels,
        _wide(results['group_metrics'], ('group', 'session', 'num_readers'),
              metrics, 'group_metrics'),
        'group_metrics',
        caption='Mean over the readers of each group '
        '(lesion-bootstrap CI)')

    rep.section('Model against readers', 'model-vs-readers')
    rows = []
    for i, r in enumerate(results['model_vs_readers']):
        key = ['model_vs_readers', i]
        rows.append([
            f'{r["versus"]} {r["name"]}', r['session'], r['metric'],
            Cell(r['model'], key=key + ['model']),
            Cell(r['readers'], key=key + ['readers']),
            interval_cell(r, key, 'difference'),
            f'{r["model_only"]} vs {r["readers_only"]}', r['test'],
            Cell(
                r['p_value'],
                'p',
                key=key + ['p_value'],
                highlight=r['p_value'] < 0.05)
        ])
    rep.table([
        'readers', 'session', 'metric', 'model', 'readers (mean)',
        f'model - readers ({level:.0%} CI)',
        'discordant (model right only vs readers right only)', 'test', 'p'
    ], rows, 'model_vs_readers')
    rep.text(
        'Against a group, McNemar\'s test pairs the model with the '
        'group\'s plurality diagnosis (ties: larger summed confidence, '
        'then class order); the difference and its interval are against '
        'the group mean.',
        note=True)

    if results['compared_sessions']:
        ref, new = results['compared_sessions']
        rep.section(f'{new} against {ref}', 'sessions')
        rows = []
        for i, r in enumerate(results['session_comparison']):
            key = ['session_comparison', i]
            rows.append([
                r['reader'], r['group'], r['metric'],
                Cell(r['reference'], key=key + ['reference']),
                Cell(r['new'], key=key + ['new']),
                interval_cell(r, key, 'difference'),
                f'{r["new_only"]} vs {r["reference_only"]}',
                Cell(
                    r['p_value'],
                    'p',
                    key=key + ['p_value'],
                    highlight=r['p_value'] < 0.05)
            ])
        rep.table([
            'reader', 'group', 'metric', ref, new,
            f'{new} - {ref} ({level:.0%} CI)',
            f'discordant (right only {new} vs only {ref})', 'McNemar p'
        ],
                  rows,
                  'session_comparison',
                  caption='Per reader')
        rep.heading('Multi-reader multi-case analysis')
        rep.text(
            'Obuchowski-Rockette model with jackknife covariances (Cov1, '
            'Cov2, Cov3, Var) and Hillis (2007) denominator degrees of '
            'freedom: random readers and random cases, so the p-value '
            'accounts for reader and case variability (as iMRMC / '
            'RJafroc / OR-DBM MRMC). FRRC: readers fixed (results hold for '
            'these readers only).',
            note=True)
        rows, forest = [], []
        for i, r in enumerate(results['mrmc']):
            key = ['mrmc', i]
            if 'error' in r:
                rows.append([r['group'], r['fom'], r['num_readers']] +
                            ['\u2013'] * 5 + [f'not run: {r["error"]}'])
                continue
            rows.append([
                r['group'], r['fom'], r['num_readers'],
                Cell(r['reference'], key=key + ['reference']),
                Cell(r['new'], key=key + ['new']),
                interval_cell(r, key, 'difference'),
                Cell(r['f'], key=key + ['f'], digits=2),
                Cell(r['df2'], key=key + ['df2'], digits=1),
                Cell(
                    r['p_value'],
                    'p',
                    key=key + ['p_value'],
                    highlight=r['p_value'] < 0.05),
                Cell(r['frrc_p_value'], 'p', key=key + ['frrc_p_value'])
            ])
            forest.append(
                dict(
                    label=f'{r["group"]}: {r["fom"]}',
                    difference=r['difference'],
                    ci_lower=r['ci_lower'],
                    ci_upper=r['ci_upper'],
                    p_value=r['p_value']))
        rep.table([
            'readers', 'figure of merit', 'n readers', ref, new,
            f'{new} - {ref} ({level:.0%} CI)', 'F', 'ddf (Hillis)', 'p (RRRC)',
            'p (FRRC)'
        ], rows, 'mrmc')
        if forest:
            rep.figure(
                figure_png(
                    difference_forest(forest,
                                      f'{new} - {ref}: OR-DBM MRMC (RRRC)',
                                      f'difference ({level:.0%} CI)')),
                'MRMC differences with their Hillis intervals.')

    rep.section('Agreement between readers', 'agreement')
    rows = []
    for si, a in enumerate(results['agreement']):
        for gi, f in enumerate(a['fleiss']):
            rows.append([
                a['session'], f['group'], f['num_readers'],
                Cell(f['kappa'], key=['agreement', si, 'fleiss', gi, 'kappa'])
            ])
    rep.table(['session', 'readers', 'n', 'Fleiss\' kappa'], rows, 'fleiss')
    for si, a in enumerate(results['agreement']):
        names = a['cohen_names']
        mat = np.asarray(a['cohen'])
        rep.table(
            [''] + names, [[n] + [
                Cell(
                    mat[i, j], key=['agreement', si, 'cohen', i, j], digits=2)
                for j in range(len(names))
            ] for i, n in enumerate(names)],
            f'cohen_{si}',
            caption=f'Pairwise Cohen\'s kappa, session '
            f'{a["session"]}')
        rep.figure(
            figure_png(
                kappa_heatmap(names, mat, f'Cohen\'s kappa ({a["session"]})')),
            width=420)
    return rep

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""HTML report and AUC-difference figure of a paired model comparison."""
from typing import Sequence

from ..clinical.predictions import LesionPredictions
from .figures import difference_forest, roc_models
from .html import Cell, HtmlReport, figure_png


def auc_difference_figure(results: dict):
    """Forest plot of every AUC difference (per class and macro) of every
    pair, with the bootstrap interval and the DeLong p-value."""
    level = results['settings']['ci_level']
    rows = [
        dict(
            label=f'{r["model_a"]} - {r["model_b"]}: {r["metric"]}',
            difference=r['difference'],
            ci_lower=r['ci_lower'],
            ci_upper=r['ci_upper'],
            p_value=r['p_value']) for r in results['comparisons']
        if r['metric'].startswith('auc_')
    ]
    return difference_forest(
        rows, 'AUC differences (paired lesion bootstrap CI, DeLong p)',
        f'AUC difference ({level:.0%} CI)')


def build_comparison_report(
        results: dict,
        preds: Sequence[LesionPredictions],
        title: str = 'Paired model comparison') -> HtmlReport:
    """The report of :func:`ecdl_mm.evaluation.clinical.compare_models`.

    Args:
        results (dict): Its output (the numbers shown, keyed to the JSON).
        preds (Sequence[LesionPredictions]): The aligned predictions, for
            the ROC curves.
        title (str): Page title.
    """
    names = [m['name'] for m in results['models']]
    s = results['settings']
    level = s['ci_level']
    rep = HtmlReport(
        title, f'{", ".join(names)} on {results["num_lesions"]} lesions')
    rep.section('Inputs', 'inputs')
    rep.table(['model', 'file'],
              [[m['name'], m['path']] for m in results['models']], 'inputs')
    rep.table(['class', 'lesions'],
              [[c, Cell(n, 'int', key=['class_counts', c])]
               for c, n in results['class_counts'].items()], 'class_counts')
    rep.text(
        f'Intervals: {level:.0%} percentile intervals over '
        f'{s["bootstrap_rounds"]} paired lesion-bootstrap resamples (seed '
        f'{s["seed"]}). AUCs: DeLong\'s test (the macro AUC with the joint '
        'covariance of the per-class AUCs). Rates: McNemar\'s test on the '
        'lesions of the rate, exact binomial below '
        f'{s["mcnemar_exact_below"]} discordant lesions. Each p is also '
        'Holm-adjusted over the pair\'s family of tests (p (Holm)).',
        note=True)

    rep.section('Each model', 'models')
    by_metric = {}
    for i, r in enumerate(results['model_metrics']):
        by_metric.setdefault(r['metric'], {})[r['model']] = (i, r)
    rows = []
    for metric, per_model in by_metric.items():
        row = [metric]
        for name in names:
            i, r = per_model[name]
            row.append(
                Cell(
                    r['value'],
                    key=['model_metrics', i, 'value'],
                    ci=(r['ci_lower'], r['ci_upper']),
                    ci_keys=(['model_metrics', i,
                              'ci_lower'], ['model_metrics', i, 'ci_upper']),
                    counts=(r['k'], r['n']) if 'k' in r else None))
        rows.append(row)
    rep.table(
        ['metric'] + names,
        rows,
        'model_metrics',
        caption=f'value ({level:.0%} CI: Wilson with k/n for rates, '
        'lesion bootstrap for AUCs)')

    rep.section('Paired differences', 'comparisons')
    rows = []
    for i, r in enumerate(results['comparisons']):
        key = ['comparisons', i]
        sig = r['p_holm'] < 0.05
        detail = (f'z={r["statistic"]:.2f}' if r['test'] == 'DeLong' else
                  f'{r["a_only"]} vs {r["b_only"]} of {r["n"]}')
        rows.append([
            f'{r["model_a"]} - {r["model_b"]}', r['metric'],
            Cell(r['value_a'], key=key + ['value_a']),
            Cell(r['value_b'], key=key + ['value_b']),
            Cell(
                r['difference'],
                key=key + ['difference'],
                ci=(r['ci_lower'], r['ci_upper']),
                ci_keys=(key + ['ci_lower'], key + ['ci_upper'])), r['test'],
            detail,
            Cell(r['p_value'], 'p', key=key + ['p_value']),
            Cell(r['p_holm'], 'p', key=key + ['p_holm'], highlight=sig)
        ])
    rep.table([
        'pair (A - B)', 'metric', 'A', 'B', f'A - B ({level:.0%} CI)', 'test',
        'discordant (A right only vs B right only) / z', 'p', 'p (Holm)'
    ],
              rows,
              'comparisons',
              caption='p (Holm): adjusted over all metrics of the pair; '
              'highlighted below 0.05')
    rep.figure(
        figure_png(auc_difference_figure(results)),
        'AUC differences with bootstrap intervals.')
    rep.figure(
        figure_png(
            roc_models(preds[0].target, {
                n: p.scores
                for n, p in zip(names, preds)
            }, results['classes'])), 'One-vs-rest ROC curves.')
    return rep

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The HTML report of one test run, from the files LesionMetric writes with
``out_dir`` set: ``metrics.json``, ``lesion_predictions.csv`` and
``image_predictions.csv``."""
import json
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np

from ..clinical.predictions import StudyDataError, load_lesion_predictions
from .decision_report import decision_section
from .figures import confusion_figure, roc_models
from .html import Cell, HtmlReport, figure_png, thumbnail_jpeg
from .subgroup_report import add_lesion_subgroups
from .verdict import add_verdict, uncertain_rule

PER_CLASS = ('sensitivity', 'specificity', 'ppv', 'npv', 'f1', 'auc')
SUMMARY = ('accuracy', 'sensitivity_macro', 'specificity_macro', 'ppv_macro',
           'npv_macro', 'f1_macro', 'auc_macro', 'auc_micro')


def _metric_cell(metrics: dict,
                 key: str,
                 counts: Optional[dict] = None) -> Cell:
    lo, hi = f'{key}_ci_lower', f'{key}_ci_upper'
    has_ci = lo in metrics and hi in metrics
    c = (counts or {}).get(key)
    return Cell(
        metrics.get(key),
        key=['metrics', key] if key in metrics else None,
        ci=(metrics[lo], metrics[hi]) if has_ci else None,
        ci_keys=(['metrics', lo], ['metrics', hi]) if has_ci else None,
        counts=(c['k'], c['n']) if c else None)


def build_lesion_report(out_dir: str,
                        title: Optional[str] = None,
                        max_gallery: int = 12,
                        thumbs_per_lesion: int = 4) -> HtmlReport:
    """Build the report of a LesionMetric ``out_dir``.

    Args:
        out_dir (str): Folder with ``metrics.json``,
            ``lesion_predictions.csv`` and ``image_predictions.csv``.
        title (str, optional): Page title.
        max_gallery (int): Most misclassified lesions shown with
            thumbnails. Defaults to 12.
        thumbs_per_lesion (int): Thumbnails per lesion. Defaults to 4.

    Raises:
        StudyDataError: If a needed file is missing.
    """
    import pandas as pd
    paths = {
        name: osp.join(out_dir, name)
        for name in ('metrics.json', 'lesion_predictions.csv',
                     'image_predictions.csv')
    }
    for name, path in paths.items():
        if not osp.isfile(path):
            raise StudyDataError(
                f'{path} not found: the report reads what LesionMetric '
                'writes with out_dir set (metrics.json, '
                'lesion_predictions.csv, image_predictions.csv)')
    with open(paths['metrics.json']) as f:
        info = json.load(f)
    metrics = info['metrics']
    classes = info['classes']
    lesions = load_lesion_predictions(paths['lesion_predictions.csv'])
    images = pd.read_csv(
        paths['image_predictions.csv'], dtype={'lesion_id': str})
    num_l = metrics.get('lesion/num_lesions', len(lesions.lesion_ids))
    num_i = metrics.get('image/num_images', len(images))
    rep = HtmlReport(
        title or 'Lesion-level evaluation report',
        f'{num_l} lesions, {num_i} images; source: {osp.abspath(out_dir)}')
    rep.set_provenance(info.get('provenance'))
    add_verdict(rep, info, lesions.pred)  # the page opens with it

    rep.section('Overview', 'overview')
    ci = info.get('ci_level', 0.95)
    rounds = info.get('bootstrap_rounds', 0)
    counts = info.get('counts', {})
    if counts:
        boot = (f'AUCs, F1 and macro means: percentile bootstrap, {rounds} '
                'lesion rounds' if rounds else 'AUCs, F1, macro: none')
        intervals = (f'{ci:.0%}; lesion-level proportions: Wilson score; '
                     'image-level proportions: cluster-adjusted Wilson '
                     '(effective n = images / design effect of lesions); '
                     f'{boot}; k/n beside every proportion')
    else:  # a metrics.json of an older version
        intervals = (f'{ci:.0%} percentile, {rounds} lesion-bootstrap '
                     'rounds' if rounds else 'none')
    rep.table(['item', 'value'], [
        ['lesions',
         Cell(num_l, 'int', key=['metrics', 'lesion/num_lesions'])],
        ['images',
         Cell(num_i, 'int', key=['metrics', 'image/num_images'])],
        [
            'lesion score', f'{info.get("aggregation", "mean")} of the image '
            'probabilities'
        ],
        ['intervals', intervals],
    ] + [[f'lesions of class {c}',
          int((lesions.target == k).sum())]
         for k, c in enumerate(classes)], 'overview')

    rep.section('Summary', 'summary')
    rep.text(
        'Every value with its confidence interval; macro = mean over '
        'classes (one-vs-rest).',
        note=True)
    rep.table(['metric', 'image level', 'lesion level'], [[name] + [
        _metric_cell(metrics, f'{lv}/{name}', counts)
        for lv in ('image', 'lesion')
    ] for name in SUMMARY], 'summary')

    rep.section('Per class', 'per-class')
    for level in ('lesion', 'image'):
        rep.table(
            ['class'] + list(PER_CLASS), [[c] + [
                _metric_cell(metrics, f'{level}/{n}_{c}', counts)
                for n in PER_CLASS
            ] for c in classes],
            f'per_class_{level}',
            caption=f'{level} level')

    rep.section('Confusion matrices and ROC curves', 'figures')
    for level in ('lesion', 'image'):
        key = f'{level}/confusion_matrix'
        if key not in metrics:
            continue
        cm = np.asarray(metrics[key])
        rep.table(
            ['true \\ predicted'] + list(classes), [[c] + [
                Cell(cm[i, j], 'int', key=['metrics', key, i, j])
                for j in range(len(classes))
            ] for i, c in enumerate(classes)],
            f'confusion_{level}',
            caption=f'{level} level (counts)')
    cm = np.asarray(metrics.get('lesion/confusion_matrix'))
    if cm.ndim == 2:
        rep.figure(
            figure_png(
                confusion_figure(cm, classes,
                                 'lesion-level confusion matrix')),
            'Lesion level: rows true class, columns predicted.',
            width=420)
    rep.figure(
        figure_png(
            roc_models(lesions.target, {'lesion score': lesions.scores},
                       classes)), 'Lesion-level one-vs-rest ROC curves.')

    frame = pd.read_csv(
        paths['lesion_predictions.csv'], dtype={'lesion_id': str})
    _calibration_section(rep, info, lesions, images, frame, classes)
    if 'selective/coverage' in metrics:
        _operating_point_section(rep, info, lesions, frame, classes)
    if info.get('decisions'):
        decision_section(rep, info['decisions'], classes, 'selective/coverage'
                         in metrics)

    study = add_lesion_subgroups(rep, paths['lesion_predictions.csv'], ci,
                                 rounds or 1000)
    if study is not None:  # the numbers beside the metric's, in metrics.json
        from ...utils.io import jsonable
        from ...utils.provenance import add_to_json
        add_to_json(paths['metrics.json'], jsonable(study), key='subgroups')

    rep.section('Worst-misclassified lesions', 'gallery')
    wrong = np.flatnonzero(lesions.pred != lesions.target)
    p_true = lesions.scores[np.arange(len(lesions.target)), lesions.target]
    order = wrong[np.argsort(p_true[wrong], kind='stable')]
    rep.text(
        f'{len(wrong)} of {len(lesions.target)} lesions are '
        f'misclassified; the {min(len(order), max_gallery)} with the '
        'lowest probability of their true class are shown, with up to '
        f'{thumbs_per_lesion} of their images.',
        note=True)
    by_lesion = images.groupby('lesion_id', sort=False)['img_path']
    paths_of = {lid: list(v) for lid, v in by_lesion}
    cards = []
    for i in order[:max_gallery]:
        lid = lesions.lesion_ids[i]
        t, p = lesions.target[i], lesions.pred[i]
        thumbs, missing = [], []
        for path in paths_of.get(lid, [])[:thumbs_per_lesion]:
            img = thumbnail_jpeg(str(path))
            if img is None:
                missing.append(str(path))
            else:
                thumbs.append(img)
        cards.append(
            dict(
                title=f'lesion {lid}',
                lines=[
                    f'true: {classes[t]} (p={p_true[i]:.2f})',
                    f'predicted: {classes[p]} '
                    f'(p={lesions.scores[i, p]:.2f})',
                    f'{len(paths_of.get(lid, []))} image(s)'
                ],
                images=thumbs,
                missing=missing))
    if cards:
        rep.gallery(cards)
    return rep


def _calibration_section(rep, info, lesions, images, frame, classes) -> None:
    from .figures import reliability_diagram
    metrics = info['metrics']
    if 'lesion/ece' not in metrics:
        return
    bins = info.get('calibration_bins', 15)
    rep.section('Calibration', 'calibration')
    rep.text(
        f'Top-label ECE over {bins} equal-width confidence bins; '
        'class-wise ECE = mean over classes of the one-vs-rest ECE; '
        'Brier = mean of sum over classes of (p - y)^2 (0 to 2); '
        'NLL = mean -log p(true class).',
        note=True)
    names = ('ece', 'ece_classwise', 'brier', 'nll')
    cal = 'image/calibrated/ece' in metrics
    header = ['measure', 'image', 'lesion'
              ] + (['image calibrated', 'lesion calibrated'] if cal else [])
    rows = []
    for n in names:
        row = [n] + [
            _metric_cell(metrics, f'{lv}/{n}') for lv in ('image', 'lesion')
        ]
        if cal:
            row += [
                _metric_cell(metrics, f'{lv}/calibrated/{n}')
                for lv in ('image', 'lesion')
            ]
        rows.append(row)
    rep.table(header, rows, 'calibration')
    prob_cols = [f'prob_{c}' for c in classes]
    curves = {}
    for level, table in (('image', images), ('lesion', None)):
        if table is None:
            p = lesions.scores
            t = lesions.target
        else:
            p = table[prob_cols].to_numpy(float)
            t = table['gt_label'].to_numpy(int)
        curves[f'{level} raw'] = (p.max(1), p.argmax(1) == t)
    if cal and f'cal_prob_{classes[0]}' in frame:
        pc = frame[[f'cal_prob_{c}' for c in classes]].to_numpy(float)
        curves['lesion calibrated'] = (pc.max(1),
                                       pc.argmax(1) == lesions.target)
    rep.figure(
        figure_png(
            reliability_diagram(curves,
                                f'Reliability (top label, {bins} bins)',
                                bins)),
        'Accuracy against confidence per bin; the diagonal is perfect '
        'calibration; bars: cases per bin.',
        width=460)


def _operating_point_section(rep, info, lesions, frame, classes) -> None:
    from ..functional import risk_coverage
    from .figures import risk_coverage_figure
    metrics = info['metrics']
    op = info.get('operating_point', {})
    rep.section('Operating point and selective metrics', 'selective')
    view = op.get('view', {})
    crop = view.get('crop_ratio')
    rep.text(
        f"Operating point {op.get('path')}: view {view.get('name')}"
        f"{' ' + str(crop) if crop else ''}"
        f"{' + flip' if view.get('flip') else ''}, temperature "
        f"{op.get('temperature', 1):.3f}, {uncertain_rule(op)}. Fitted on a "
        'validation split; the rates below are among the accepted '
        '(confident) lesions, with Wilson intervals.',
        note=True)
    counts = info.get('counts', {})
    keys = ['coverage', 'accuracy'] + [
        f'{n}_{c}' for n in ('sensitivity', 'specificity', 'npv')
        for c in classes
    ]
    rep.table(['selective metric', 'value'],
              [[k, _metric_cell(metrics, f'selective/{k}', counts)]
               for k in keys] + [[
                   'AURC (risk-coverage area)',
                   _metric_cell(metrics, 'selective/aurc')
               ]], 'selective')
    if 'confidence' in frame:
        conf = frame['confidence'].to_numpy(float)
        pred = frame['cal_pred_label'].to_numpy(int)
        rc = risk_coverage(conf, pred == lesions.target)
        rep.figure(
            figure_png(
                risk_coverage_figure(rc['coverage'], rc['risk'], rc['aurc'],
                                     metrics.get('selective/coverage'))),
            'Risk (error rate) of the accepted lesions as the confidence '
            'threshold falls; dashed: the operating point.',
            width=460)


def write_lesion_report(out_dir: str,
                        path: Optional[str] = None,
                        **kwargs) -> str:
    """Build the report of ``out_dir`` and write it (default
    ``<out_dir>/report.html``); returns the path."""
    rep = build_lesion_report(out_dir, **kwargs)
    return rep.save(path or osp.join(out_dir, 'report.html'))


def _lesion_metrics(cfg) -> List[dict]:
    from ...utils.config_walk import lesion_metrics
    return lesion_metrics(cfg)


def lesion_out_dirs(cfg) -> List[str]:
    """The ``out_dir`` of every LesionMetric of ``cfg.test_evaluator``
    that has one (where ``metrics.json`` and the CSVs are written)."""
    return [m['out_dir'] for m in _lesion_metrics(cfg) if m.get('out_dir')]


def enable_lesion_report(cfg) -> List[str]:
    """Prepare a config for ``tools/test.py --report``: every LesionMetric
    of ``cfg.test_evaluator`` writes its files (``out_dir`` defaults to
    ``<work_dir>/lesion_eval``).

    Returns:
        list: The ``out_dir`` of each LesionMetric.

    Raises:
        ConfigError: (a ``ValueError``) If the test evaluator has no
            LesionMetric.
    """
    dirs = []
    for metric in _lesion_metrics(cfg):
        if not metric.get('out_dir'):
            suffix = f'_{len(dirs)}' if dirs else ''
            metric['out_dir'] = osp.join(cfg.work_dir, f'lesion_eval{suffix}')
        dirs.append(metric['out_dir'])
    if not dirs:
        from ...utils.config_check import ConfigError
        raise ConfigError('--report needs a LesionMetric in test_evaluator '
                          f'(got {cfg.get("test_evaluator")!r})')
    return dirs


def write_lesion_reports(out_dirs: Sequence[str]) -> List[str]:
    """Write ``report.html`` in each ``out_dir`` (on the main process only,
    where LesionMetric writes its files); returns the paths written."""
    from mmengine.dist import is_main_process
    from mmengine.logging import print_log
    if not is_main_process():
        return []
    paths = [write_lesion_report(d) for d in out_dirs]
    for p in paths:
        print_log(f'lesion report: {p}', logger='current')
    return paths

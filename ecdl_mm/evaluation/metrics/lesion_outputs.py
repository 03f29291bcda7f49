# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The files :class:`~ecdl_mm.evaluation.LesionMetric` writes to its
``out_dir``: ``image_predictions.csv``, ``lesion_predictions.csv`` (through
:mod:`ecdl_mm.evaluation.lesion_table`), ``metrics.json`` and the figures.
The metric computes; this module only writes what it computed."""
import os
import os.path as osp
from collections import OrderedDict

import numpy as np
from mmengine.logging import print_log

from ...datasets.lesion_metadata import metadata_needs_line
from .. import functional as F
from ..functional import CALIBRATION_BINS
from ..lesion_table import (lesion_columns, lesion_row, metadata_keys,
                            write_lesion_table)


def lesion_metadata(results, ids):
    """Each lesion's ``lesion_meta`` (the first image's), in ``ids``
    order; None for lesions without."""
    meta = {}
    for r in results:
        if r.get('lesion_meta') and r['lesion_id'] not in meta:
            meta[r['lesion_id']] = r['lesion_meta']
    return [meta.get(lid) for lid in ids]


def lesion_rows(results, ids, n_images, l_scores, l_pred, l_target, classes,
                op_out):
    """The rows and header of ``lesion_predictions.csv``."""
    patients = {}
    for r in results:
        patients.setdefault(r['lesion_id'], r['patient_id'])
    meta = lesion_metadata(results, ids)
    rows = []
    for i, lid in enumerate(ids):
        cal = {}
        if op_out is not None:
            # the decision under the operating point (calibrated)
            cal = dict(
                cal_probs=op_out['l_cal'][i],
                cal_pred_label=int(op_out['l_pred'][i]),
                uncertain=bool(op_out['uncertain'][i]))
        rows.append(
            lesion_row(
                lid,
                classes,
                l_scores[i],
                int(l_pred[i]),
                int(n_images[i]),
                patient_id=patients[lid],
                gt_label=int(l_target[i]),
                metadata=meta[i],
                **cal))
    columns = lesion_columns(
        classes, calibrated=op_out is not None, metadata=metadata_keys(meta))
    return rows, columns


def write_lesion_outputs(metric, results, scores, i_pred, ids, l_scores,
                         l_pred, l_target, inverse, classes, metrics,
                         op_out) -> None:
    """Write every output of one evaluation of ``metric`` (a
    :class:`LesionMetric`) to ``metric.out_dir``."""
    import pandas as pd

    from ...utils.io import save_json
    from .lesion_metric import INTERVALS
    out_dir = metric.out_dir
    os.makedirs(out_dir, exist_ok=True)
    image_rows = []
    for r, s, p in zip(results, scores, i_pred):
        row = OrderedDict(
            img_path=r['img_path'],
            lesion_id=r['lesion_id'],
            patient_id=r['patient_id'],
            gt_label=r['gt_label'],
            gt_class=classes[r['gt_label']])
        row.update({f'prob_{c}': float(v) for c, v in zip(classes, s)})
        row.update(pred_label=int(p), pred_class=classes[p])
        image_rows.append(row)
    pd.DataFrame(image_rows).to_csv(
        osp.join(out_dir, 'image_predictions.csv'), index=False)

    n_images = np.bincount(inverse, minlength=len(ids))
    rows, columns = lesion_rows(results, ids, n_images, l_scores, l_pred,
                                l_target, classes, op_out)
    write_lesion_table(rows, osp.join(out_dir, 'lesion_predictions.csv'),
                       columns)
    present = [c for c in columns if any(r.get(c) is not None for r in rows)]
    line = metadata_needs_line(present)
    if line:
        print_log(line, logger='current')

    calibration = OrderedDict()
    level_probs = dict(
        image=(scores, np.array([r['gt_label'] for r in results])),
        lesion=(l_scores, l_target))
    if op_out is not None:
        level_probs['image_calibrated'] = (op_out['cal'],
                                           level_probs['image'][1])
        level_probs['lesion_calibrated'] = (op_out['l_cal'], l_target)
    for name, (p, t) in level_probs.items():
        calibration[name] = F.reliability_bins(p.max(1), p.argmax(1) == t)
    save_json(
        OrderedDict(
            aggregation=metric.aggregation,
            bootstrap_rounds=metric.bootstrap_rounds,
            ci_level=metric.ci_level,
            classes=list(classes),
            intervals=INTERVALS,
            calibration_bins=CALIBRATION_BINS,
            metrics=metrics,
            calibration=calibration,
            **metric.extras), osp.join(out_dir, 'metrics.json'))
    plot_lesion_outputs(out_dir, level_probs, metrics, classes, metric.extras)


def plot_lesion_outputs(out_dir, level_probs, metrics, classes,
                        extras) -> None:
    """Confusion matrices, ROC curves, reliability diagrams and (with an
    operating point) the risk-coverage curve."""
    from ..report import figures
    plt = figures._plt()

    def save(fig, name):
        fig.savefig(osp.join(out_dir, name), dpi=100)
        plt.close(fig)

    for level in ('image', 'lesion'):
        p, t = level_probs[level]
        save(
            figures.confusion_figure(metrics[f'{level}/confusion_matrix'],
                                     classes,
                                     f'{level}-level confusion matrix'),
            f'confusion_matrix_{level}.png')
        save(
            figures.roc_models(t, {f'{level} score': p}, classes),
            f'roc_{level}.png')
        curves = {'raw': (p.max(1), p.argmax(1) == t)}
        if f'{level}_calibrated' in level_probs:
            pc, tc = level_probs[f'{level}_calibrated']
            curves['calibrated'] = (pc.max(1), pc.argmax(1) == tc)
        save(
            figures.reliability_diagram(
                curves, f'{level}-level reliability (top label, '
                f'{CALIBRATION_BINS} bins)'), f'reliability_{level}.png')
    if 'risk_coverage' in extras:
        rc = extras['risk_coverage']
        save(
            figures.risk_coverage_figure(rc['coverage'], rc['risk'],
                                         rc['aurc'], rc['operating_coverage']),
            'risk_coverage.png')

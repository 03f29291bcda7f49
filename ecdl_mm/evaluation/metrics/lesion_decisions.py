# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The decision parts of :class:`~.lesion_metric.LesionMetric`: calibrated
and selective metrics under an operating point, and the clinical decision
table. Functions taking the metric first; the metric binds them as its
``_operating_point_metrics`` and ``_add_decisions`` methods."""
import numpy as np

from .. import functional as F

__all__ = ['operating_point_metrics', 'add_decisions']


def operating_point_metrics(metric, metrics, scores, target, lesion_ids,
                            l_target, classes) -> dict:
    """Calibrated and selective metrics under the operating point."""
    op = metric.operating_point
    op.check_classes(classes, where='evaluated dataset')
    cal = op.calibrate(scores)
    ids, l_cal, l_pred, inverse = metric.aggregate(cal, lesion_ids,
                                                   metric.aggregation)
    n_images = np.bincount(inverse, minlength=len(ids))
    conf = l_cal.max(1)
    uncertain = op.is_uncertain(l_cal, n_images)
    for level, (p, t) in dict(
            image=(cal, target), lesion=(l_cal, l_target)).items():
        pred = p.argmax(1) if level == 'image' else l_pred
        metrics[f'{level}/calibrated/accuracy'] = float(np.mean(pred == t))
        for key, val in F.calibration_metrics(p, t).items():
            metrics[f'{level}/calibrated/{key}'] = val
    sel = F.selective_rates(l_pred, l_target, ~uncertain, classes,
                            metric.ci_level)
    for key, entry in sel.items():
        metrics[f'selective/{key}'] = entry['value']
        metrics[f'selective/{key}_ci_lower'] = entry['ci_lower']
        metrics[f'selective/{key}_ci_upper'] = entry['ci_upper']
        metric.extras['counts'][f'selective/{key}'] = dict(
            k=entry['k'], n=entry['n'], interval='wilson')
    rc = F.risk_coverage(conf, l_pred == l_target)
    metrics['selective/aurc'] = rc['aurc']
    metric.extras['operating_point'] = dict(
        path=op.path,
        temperature=op.temperature,
        min_confidence=op.min_confidence,
        min_images=op.min_images,
        view=op.view)
    metric.extras['risk_coverage'] = dict(
        threshold=rc['threshold'],
        coverage=rc['coverage'],
        risk=rc['risk'],
        aurc=rc['aurc'],
        operating_coverage=sel['coverage']['value'])
    return dict(
        cal=cal,
        l_cal=l_cal,
        l_pred=l_pred,
        conf=conf,
        uncertain=uncertain,
        l_target=l_target)


def add_decisions(metric, l_pred, l_target, classes, op_out) -> None:
    """The decision table (``metric.extras['decisions']``) of the lesion
    predictions, the uncertain ones apart under an operating point."""
    from ..clinical.decisions import decision_table
    if op_out is not None:
        l_pred, uncertain = op_out['l_pred'], op_out['uncertain']
    else:
        uncertain = None
    table = decision_table(
        l_pred,
        l_target,
        classes,
        actions=metric.actions,
        uncertain=uncertain,
        npv_target=metric.npv_target,
        ci_level=metric.ci_level)
    if table is not None:
        metric.extras['decisions'] = table

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Metric names of :class:`~.lesion_metric.LesionMetric` and the interval
each kind gets (re-exported by :mod:`.lesion_metric`)."""
from ..functional import RATES

__all__ = ['PER_CLASS', 'PROPORTIONS', 'CALIBRATION', 'INTERVALS']

PER_CLASS = ('sensitivity', 'specificity', 'ppv', 'npv', 'f1', 'auc')
# rates that are proportions (Wilson / cluster-adjusted Wilson intervals);
# the others (F1, AUCs, macro means) get the lesion bootstrap
PROPORTIONS = ('accuracy', ) + RATES
CALIBRATION = ('ece', 'ece_classwise', 'brier', 'nll')
INTERVALS = dict(
    lesion='Wilson score interval (lesions are independent)',
    image='cluster-adjusted Wilson interval (effective sample size = '
    'images / design effect of the lesion clustering)',
    bootstrap='percentile lesion bootstrap (a lesion drawn with all its '
    'images)')

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The evaluation core: every number of ecdl_mm's metrics and clinical
reports is computed here, once.

:class:`~ecdl_mm.evaluation.LesionMetric`, the clinical modules
(``clinical/model_comparison.py``, ``clinical/reader_study.py``),
``stats/paired.py``, the inferencers, ``tools/analysis/fit_operating_point.py``
and the benchmarks call these functions; none of them codes a rate, an
interval or an aggregation of its own.

Conventions (one for the whole package):

* **Zero division.** A rate whose denominator is zero (the sensitivity of a
  class without positives, the PPV of a class never predicted) is
  *undefined*: NaN, never 0. Macro means average the defined classes; a
  bootstrap round where a rate is undefined is left out of its interval.
* **Confusion matrices** have rows = truth, columns = prediction.
* **Intervals.** A proportion of independent units (lesions) gets a Wilson
  score interval (:func:`proportion_interval`, statsmodels). A proportion of
  images, which are clustered in lesions, gets a cluster-adjusted Wilson
  interval (:func:`clustered_proportion_interval`). AUCs, F1, macro means and
  differences get the percentile lesion bootstrap, one engine for all
  (:func:`bootstrap_distribution`, :func:`percentile_interval`,
  :mod:`.bootstrap`).
* **Calibration** uses ``CALIBRATION_BINS = 15`` equal-width bins of
  ``[0, 1]``, right-closed as scikit-learn's ``calibration_curve``
  (a confidence equal to an inner edge falls in the lower bin).
"""
from .bootstrap import (MISSING_CLASS, bootstrap_distribution,
                        bootstrap_intervals, bootstrap_multiplicities,
                        percentile_interval, resampled_mean)
from .calibration import (TEMPERATURE_BOUNDS, _bin_ids, binned_ece,
                          calibration_metrics, fit_temperature,
                          reliability_bins, temperature_scale)
from .intervals import (clustered_proportion_interval, design_effect,
                        macro_interval, proportion_interval)
from .rates import (AGGREGATIONS, CALIBRATION_BINS, RATES, aggregate_lesions,
                    confusion_counts, confusion_matrix, confusion_rates,
                    micro_auc, nanmean_or_nan, one_vs_rest_auc, rate_fractions,
                    safe_div, weighted_auc)
from .selective import (TARGET_KINDS, abstention_threshold, parse_target,
                        risk_coverage, selective_rates, target_fraction)

__all__ = [
    'AGGREGATIONS', 'RATES', 'CALIBRATION_BINS', 'safe_div', 'nanmean_or_nan',
    'aggregate_lesions', 'confusion_matrix', 'confusion_counts',
    'rate_fractions', 'confusion_rates', 'weighted_auc', 'one_vs_rest_auc',
    'micro_auc', 'proportion_interval', 'design_effect',
    'clustered_proportion_interval', 'bootstrap_multiplicities',
    'bootstrap_distribution', 'bootstrap_intervals', 'resampled_mean',
    'MISSING_CLASS', 'macro_interval', 'percentile_interval',
    'reliability_bins', 'binned_ece', 'calibration_metrics',
    'temperature_scale', 'TEMPERATURE_BOUNDS', 'fit_temperature',
    'risk_coverage', 'selective_rates', 'TARGET_KINDS', 'parse_target',
    'target_fraction', 'abstention_threshold'
]

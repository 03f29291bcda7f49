# Copyright (c) ecdl_mm contributors. All rights reserved.
from .agreement import fleiss_kappa, pairwise_cohen_kappa
from .delong import (auc_influence, delong_covariance, delong_test,
                     one_vs_rest_delong, paired_auc_tests, placement_values)
from .mrmc import (jackknife_auc, jackknife_ratio, obuchowski_rockette,
                   or_covariances, reader_fom)
from .paired import (bootstrap_multiplicities, holm_adjust, mcnemar_test,
                     percentile_interval, weighted_rates, wilson_interval)

__all__ = [
    'placement_values', 'auc_influence', 'delong_covariance', 'delong_test',
    'one_vs_rest_delong', 'paired_auc_tests', 'mcnemar_test', 'holm_adjust',
    'wilson_interval', 'bootstrap_multiplicities', 'percentile_interval',
    'weighted_rates', 'jackknife_ratio', 'jackknife_auc', 'or_covariances',
    'obuchowski_rockette', 'reader_fom', 'fleiss_kappa', 'pairwise_cohen_kappa'
]

# Copyright (c) ecdl_mm contributors. All rights reserved.
from .log_processor import MetricSummaryLogProcessor, summarise_metric_logs
from .prefetch_loop import DevicePrefetchTrainLoop

__all__ = [
    'MetricSummaryLogProcessor', 'summarise_metric_logs',
    'DevicePrefetchTrainLoop'
]

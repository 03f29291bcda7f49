# Copyright (c) ecdl_mm contributors. All rights reserved.
from .log_processor import MetricSummaryLogProcessor, summarise_metric_logs

__all__ = ['MetricSummaryLogProcessor', 'summarise_metric_logs']

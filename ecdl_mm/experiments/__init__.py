# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Experiment runners behind ``tools/analysis``: model benchmarks on a
shared split, few-shot learning curves and per-split predictions for
operating-point fits."""
from .few_shot_curve import run_fewshot_curve
from .model_benchmark import prepare_config, run_benchmark, write_comparison
from .split_predictions import (dataset_classes, predict_views,
                                validation_dataset_cfg)

__all__ = [
    'prepare_config', 'run_benchmark', 'write_comparison', 'run_fewshot_curve',
    'dataset_classes', 'predict_views', 'validation_dataset_cfg'
]

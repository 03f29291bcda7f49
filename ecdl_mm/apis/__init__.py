# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Inferencers: image and lesion predictions from files.

The live CAD moved to :mod:`ecdl_mm.live` and the experiment runners to
:mod:`ecdl_mm.experiments`; their names stay importable from here, with a
``DeprecationWarning``, until the next release.
"""
from ..utils.deprecation import moved_names
from .lesion_inferencer import (LesionInferencer, LesionInputError,
                                LooseImagesWarning)

__all__ = ['LesionInferencer', 'LesionInputError', 'LooseImagesWarning']

__getattr__ = moved_names(
    __name__, {
        'FrameQualityGate': 'ecdl_mm.live.frame_quality_gate',
        'Frame': 'ecdl_mm.live.frame_source',
        'FrameSource': 'ecdl_mm.live.frame_source',
        'SourceError': 'ecdl_mm.live.frame_source',
        'LesionTracker': 'ecdl_mm.live.lesion_tracker',
        'LiveSession': 'ecdl_mm.live.live_session',
        'NewestSlot': 'ecdl_mm.live.live_session',
        'StreamInferencer': 'ecdl_mm.live.stream_inferencer',
        'prepare_config': 'ecdl_mm.experiments.model_benchmark',
        'run_benchmark': 'ecdl_mm.experiments.model_benchmark',
        'write_comparison': 'ecdl_mm.experiments.model_benchmark',
        'run_fewshot_curve': 'ecdl_mm.experiments.few_shot_curve',
        'dataset_classes': 'ecdl_mm.experiments.split_predictions',
        'predict_views': 'ecdl_mm.experiments.split_predictions',
        'validation_dataset_cfg': 'ecdl_mm.experiments.split_predictions',
    })

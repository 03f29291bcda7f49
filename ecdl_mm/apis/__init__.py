# Copyright (c) ecdl_mm contributors. All rights reserved.
from .few_shot_curve import run_fewshot_curve
from .frame_quality_gate import FrameQualityGate
from .frame_source import Frame, FrameSource, SourceError
from .lesion_inferencer import (LesionInferencer, LesionInputError,
                                LooseImagesWarning)
from .lesion_tracker import LesionTracker
from .live_session import LiveSession, NewestSlot
from .model_benchmark import prepare_config, run_benchmark, write_comparison
from .split_predictions import (dataset_classes, predict_views,
                                validation_dataset_cfg)
from .stream_inferencer import StreamInferencer

__all__ = [
    'LesionInferencer', 'LesionInputError', 'LooseImagesWarning',
    'FrameQualityGate', 'Frame', 'FrameSource', 'SourceError', 'LesionTracker',
    'LiveSession', 'NewestSlot', 'StreamInferencer', 'prepare_config',
    'run_benchmark', 'write_comparison', 'run_fewshot_curve',
    'dataset_classes', 'predict_views', 'validation_dataset_cfg'
]

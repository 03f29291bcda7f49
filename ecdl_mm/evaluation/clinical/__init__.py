# Copyright (c) ecdl_mm contributors. All rights reserved.
from ...utils.io import jsonable, save_csv, save_json
from .model_comparison import compare_models, metric_names, point_metrics
from .predictions import (LesionPredictions, StudyDataError, align_predictions,
                          load_lesion_predictions)
from .reader_study import (ReaderReads, consensus, load_readers,
                           resolve_sessions, run_reader_study)

__all__ = [
    'StudyDataError', 'LesionPredictions', 'load_lesion_predictions',
    'align_predictions', 'compare_models', 'metric_names', 'point_metrics',
    'ReaderReads', 'load_readers', 'resolve_sessions', 'run_reader_study',
    'consensus', 'jsonable', 'save_json', 'save_csv'
]

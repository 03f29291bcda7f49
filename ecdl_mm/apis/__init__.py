from .lesion_inferencer import LesionInferencer  # noqa: F401
from .split_predictions import (dataset_classes,  # noqa: F401
                                predict_views, validation_dataset_cfg)

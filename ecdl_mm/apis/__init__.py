from .lesion_inferencer import LesionInferencer  # noqa: F401
from .split_predictions import (predict_views,  # noqa: F401
                                validation_dataset_cfg)

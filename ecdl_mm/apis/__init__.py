from .few_shot_curve import run_fewshot_curve
from .lesion_inferencer import (LesionInferencer, LesionInputError,
                                LooseImagesWarning)
from .model_benchmark import prepare_config, run_benchmark, write_comparison

__all__ = [
    'LesionInferencer', 'LesionInputError', 'LooseImagesWarning',
    'prepare_config', 'run_benchmark', 'write_comparison', 'run_fewshot_curve'
]

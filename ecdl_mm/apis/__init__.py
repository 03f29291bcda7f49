from .lesion_inferencer import LesionInferencer  # noqa: F401
from .model_benchmark import (prepare_config, run_benchmark,  # noqa: F401
                              write_comparison)
from .few_shot_curve import run_fewshot_curve  # noqa: F401

from .lesion_inferencer import (LesionInferencer,  # noqa: F401
                                LesionInputError, LooseImagesWarning)

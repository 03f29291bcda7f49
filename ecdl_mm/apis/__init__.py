from .lesion_inferencer import (LesionInferencer, LesionInputError,
                                LooseImagesWarning)

__all__ = ['LesionInferencer', 'LesionInputError', 'LooseImagesWarning']

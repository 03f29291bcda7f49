# Copyright (c) ecdl_mm contributors. All rights reserved.
from .encoded_crop_preprocessor import EncodedCropDataPreprocessor

__all__ = ['EncodedCropDataPreprocessor']

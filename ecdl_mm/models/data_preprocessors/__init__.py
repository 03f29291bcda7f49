# Copyright (c) ecdl_mm contributors. All rights reserved.
from .augment_records import DEVICE_OPS, apply_device_augments
from .encoded_crop_preprocessor import (EncodedCropClsDataPreprocessor,
                                        EncodedCropDataPreprocessor,
                                        EncodedCropMixin)

__all__ = [
    'EncodedCropDataPreprocessor', 'EncodedCropClsDataPreprocessor',
    'EncodedCropMixin', 'apply_device_augments', 'DEVICE_OPS'
]

# Copyright (c) ecdl_mm contributors. All rights reserved.
from .center_crop_ratio import CenterCropRatio
from .device_augment import DeviceAugment
from .load_encoded_crop import LoadEncodedRandomResizedCrop
from .load_random_resized_crop import LoadRandomResizedCrop, crop_decode_factor
from .load_resized_image import LoadResizedImage, resize_edge_size
from .lut_ops import AutoContrastLUT, EqualizeLUT, RandAugmentLUT
from .random_erasing import RandomErasingFast

__all__ = [
    'LoadResizedImage', 'resize_edge_size', 'CenterCropRatio',
    'LoadRandomResizedCrop', 'crop_decode_factor',
    'LoadEncodedRandomResizedCrop', 'DeviceAugment', 'AutoContrastLUT',
    'EqualizeLUT', 'RandAugmentLUT', 'RandomErasingFast'
]

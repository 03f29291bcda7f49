# Copyright (c) ecdl_mm contributors. All rights reserved.
from .center_crop_ratio import CenterCropRatio
from .load_resized_image import LoadResizedImage, resize_edge_size

__all__ = ['LoadResizedImage', 'resize_edge_size', 'CenterCropRatio']

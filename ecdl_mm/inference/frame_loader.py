# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The config's loading transform for frames that are already decoded (the
live path), on the CPU (:class:`LoadFrame`) and on a device
(:class:`ecdl_mm.inference.DevicePreprocessor`), by one rule
(:func:`frame_plan`)."""
from typing import Optional, Tuple

import cv2

from ..datasets.transforms.load_resized_image import (reduced_decode_factor,
                                                      resize_edge_size)


def frame_plan(w: int, h: int,
               loader_cfg: dict) -> Tuple[int, Optional[Tuple[int, int]]]:
    """What the loading transform does to a ``w x h`` frame.

    ``LoadImageFromFile`` keeps it; ``LoadResizedImage(scale, edge)``
    reduces it by the power of two (1, 2, 4 or 8) its JPEG path decodes at,
    then (``resize=True``) resizes the edge.

    Returns:
        tuple: ``(factor, (tw, th) | None)``: the area reduction and the
        final size (None: no final resize).
    """
    if loader_cfg.get('type') != 'LoadResizedImage':
        return 1, None
    tw, th = resize_edge_size(w, h, loader_cfg.get('scale'),
                              loader_cfg.get('edge', 'short'))
    factor = reduced_decode_factor(w, h, tw, th)
    return factor, (tw, th) if loader_cfg.get('resize', True) else None


class LoadFrame:
    """The config's loading transform, for a decoded frame.

    Replaces the test pipeline's first transform (see :func:`frame_plan`):
    the reduction by area averaging, as libjpeg's DCT scaling does, then a
    bilinear resize of the edge when the loader resizes.

    **Required Keys:** img (BGR ``uint8``). **Modified Keys:** img,
    img_shape, ori_shape.
    """

    def __init__(self, loader_cfg: dict) -> None:
        self.cfg = dict(loader_cfg)

    def __call__(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        factor, size = frame_plan(w, h, self.cfg)
        if factor > 1:
            img = cv2.resize(
                img, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
        if size is not None and (img.shape[1], img.shape[0]) != size:
            img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = (h, w)
        return results

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Replay ``DeviceAugment``'s records on the CPU with the functions the
transforms themselves call: the reference the device ops are tested
against."""
import mmcv
import numpy as np

MMCV_CALLS = dict(
    AutoContrast=mmcv.auto_contrast,
    Equalize=mmcv.imequalize,
    Invert=mmcv.iminvert,
    Rotate=mmcv.imrotate,
    Posterize=mmcv.posterize,
    Solarize=mmcv.solarize,
    ColorTransform=mmcv.adjust_color,
    Contrast=mmcv.adjust_contrast,
    Brightness=mmcv.adjust_brightness,
    Sharpness=mmcv.adjust_sharpness,
    Shear=mmcv.imshear,
    Translate=mmcv.imtranslate,
    Flip=mmcv.imflip)


def apply_record(img: np.ndarray, rec) -> np.ndarray:
    """One record applied to an ``(H, W, 3)`` uint8 BGR image."""
    if rec is None:
        return img
    kwargs = {k: v for k, v in rec.items() if k != 'type'}
    name = rec['type']
    if name == 'RandomErasing':  # RandomErasing._fill_pixels
        out = img.copy()
        top, left, h, w = (kwargs[k] for k in ('top', 'left', 'h', 'w'))
        out[top:top + h, left:left + w] = kwargs['patch']
        return out
    if name == 'SolarizeAdd':  # SolarizeAdd.transform's own expression
        out = np.where(img < kwargs['thr'],
                       np.minimum(img + kwargs['magnitude'], 255), img)
    else:
        out = MMCV_CALLS[name](img, **kwargs)
    return out.astype(img.dtype)

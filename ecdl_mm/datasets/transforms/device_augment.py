# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Training augmentations drawn in the loader workers and applied on the
model's device (:class:`DeviceAugment`)."""
from math import ceil
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform, RandomFlip
from mmpretrain.datasets.transforms import RandAugment, RandomErasing
from mmpretrain.registry import TRANSFORMS

_NO_ARGS = ('AutoContrast', 'Equalize', 'Invert')
#: RandAugment ops DeviceAugment records (and the device applies); each
#: record holds the keyword arguments of the mmcv function the op calls
RANDAUG_OPS = _NO_ARGS + ('Rotate', 'Posterize', 'Solarize', 'SolarizeAdd',
                          'ColorTransform', 'Contrast', 'Brightness',
                          'Sharpness', 'Shear', 'Translate')


def _signed(t, fixed):
    """``t.random_negative(fixed or t.random_magnitude())``: the calls (and
    their order) of the op's own ``transform``."""
    return t.random_negative(
        fixed if fixed is not None else t.random_magnitude())


def op_name(op) -> str:
    """The mmpretrain op ``op`` is or subclasses (e.g. ``AutoContrast``
    for :class:`~ecdl_mm.datasets.transforms.AutoContrastLUT`, which has
    its pixels and draws), else its own class name."""
    for cls in type(op).__mro__:
        if cls.__name__ in RANDAUG_OPS:
            return cls.__name__
    return type(op).__name__


def _draw_op(t, img_hw) -> Optional[dict]:
    """Draw one RandAugment op's random decisions as its ``transform`` does
    and return the keyword arguments of the function it would call (plus
    ``type``), or ``None`` when the op disables itself."""
    name = op_name(t)  # one of RANDAUG_OPS (checked at build)
    if t.random_disable():
        return None
    if name in _NO_ARGS:
        return dict(type=name)
    geom = dict(
        border_value=getattr(t, 'pad_val', None),
        interpolation=getattr(t, 'interpolation', None))
    if name == 'Rotate':
        return dict(
            type=name,
            angle=_signed(t, t.angle),
            center=t.center,
            scale=t.scale,
            **geom)
    if name == 'Shear':
        return dict(
            type=name,
            magnitude=_signed(t, t.magnitude),
            direction=t.direction,
            **geom)
    if name == 'Translate':
        magnitude = _signed(t, t.magnitude)
        size = img_hw[1] if t.direction == 'horizontal' else img_hw[0]
        return dict(
            type=name, offset=magnitude * size, direction=t.direction, **geom)
    if name == 'Posterize':
        bits = t.bits if t.bits is not None else t.random_magnitude()
        return dict(type=name, bits=ceil(bits))
    if name == 'Solarize':
        return dict(
            type=name,
            thr=t.thr if t.thr is not None else t.random_magnitude())
    if name == 'SolarizeAdd':
        magnitude = t.magnitude if t.magnitude is not None \
            else t.random_magnitude()
        return dict(type=name, magnitude=magnitude, thr=t.thr)
    key = 'alpha' if name == 'ColorTransform' else 'factor'
    return {'type': name, key: 1 + _signed(t, t.magnitude)}


@TRANSFORMS.register_module()
class DeviceAugment(BaseTransform):
    """Draw the training augmentations in the worker; apply them on the GPU.

    Wraps ``RandomFlip``, mmpretrain's ``RandAugment`` and
    ``RandomErasing`` (built from their usual configs, in order). For an
    image still encoded (the bytes of
    :class:`LoadEncodedRandomResizedCrop`), it makes every random draw those
    transforms would make, with their own objects and in the same order, so
    one seed gives the same decisions, and stores in
    ``results['device_augments']`` one record per step: the keyword
    arguments of the mmcv function the step would call on the CPU (``None``
    when the step draws "no"). The data preprocessor
    (:class:`~ecdl_mm.models.EncodedCropClsDataPreprocessor`) applies them
    to the batch on the model's device after decoding and cropping. An
    image the loader already decoded (PNG, EXIF-rotated, truncated) runs
    the transforms here, on the CPU.

    Steps: one per ``RandomFlip``, ``num_policies`` per ``RandAugment``, one
    per ``RandomErasing``; every sample of a pipeline has the same number.
    ``RandomErasing``'s noise patch is drawn here (NumPy, as the transform
    does) and travels in the record (at most ``max_area_ratio`` of the crop:
    a third in the EC-DL configs).

    Args:
        transforms (list[dict]): the transform configs to wrap.
    """

    def __init__(self, transforms: Sequence[dict]) -> None:
        self.transforms = [
            TRANSFORMS.build(t) if isinstance(t, dict) else t
            for t in transforms
        ]
        for t in self.transforms:
            if not isinstance(t, (RandomFlip, RandAugment, RandomErasing)):
                raise TypeError(
                    f'DeviceAugment wraps RandomFlip, RandAugment and '
                    f'RandomErasing; got {type(t).__name__}')
            for op in getattr(t, 'transforms', ()):  # RandAugment's ops
                name = op_name(op)
                if name not in RANDAUG_OPS:
                    raise TypeError(
                        f'DeviceAugment: RandAugment op {name} has no device '
                        f'version (supported: {", ".join(RANDAUG_OPS)}); '
                        'train with the CPU pipeline instead')
                mode = getattr(op, 'interpolation', 'bilinear')
                if mode not in ('nearest', 'bilinear', 'bicubic'):
                    raise ValueError(
                        f'DeviceAugment: RandAugment op {name} with '
                        f'interpolation={mode!r} has no device version '
                        "(choose 'nearest', 'bilinear' or 'bicubic')")

    def _draw(self, t, results: dict, img_hw) -> List[Optional[dict]]:
        # The random calls of mmcv 2.2.0's RandomFlip (_choose_direction)
        # and mmpretrain 1.2.0's RandAugment / RandomErasing (random_patch,
        # _fill_pixels): private methods, pinned by requirements/lock.txt
        # and checked call for call by
        # tests/test_datasets/test_transforms/test_device_augment.py.
        if isinstance(t, RandomFlip):
            direction = t._choose_direction()
            results['flip'] = direction is not None
            results['flip_direction'] = direction
            return [
                None if direction is None else dict(
                    type='Flip', direction=direction)
            ]
        if isinstance(t, RandAugment):
            return [
                _draw_op(t.transforms[i], img_hw)
                for i in t.random_policy_indices()
            ]
        if t.random_disable():  # RandomErasing
            return [None]
        top, left, h, w = t.random_patch(*img_hw)
        probe = np.zeros((h, w, 3), np.uint8)
        patch = t._fill_pixels(probe, 0, 0, h, w)  # its noise draw
        return [
            dict(
                type='RandomErasing',
                top=top,
                left=left,
                h=h,
                w=w,
                patch=patch)
        ]

    def transform(self, results: dict) -> dict:
        img = results['img']
        if not (isinstance(img, torch.Tensor) and img.dim() == 1):
            for t in self.transforms:  # decoded here: the CPU transforms
                results = t(results)
            results['device_augments'] = None
            return results
        img_hw = tuple(results['img_shape'][:2])
        records = []
        for t in self.transforms:
            records += self._draw(t, results, img_hw)
        results['device_augments'] = records
        return results

    def __repr__(self) -> str:
        inner = ', '.join(type(t).__name__ for t in self.transforms)
        return f'{self.__class__.__name__}(transforms=[{inner}])'

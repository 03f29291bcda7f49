# Copyright (c) ecdl_mm contributors. All rights reserved.
"""mmpretrain's ``AutoContrast``, ``Equalize``, ``Solarize`` and
``SolarizeAdd`` RandAugment ops with the same pixels and random draws,
computed through lookup tables.

mmcv computes both per channel with ``np.histogram`` over float bin edges,
a float lookup table indexed per pixel, and a stack of the three channels:
1.9 ms each on a 224 px crop, the two slowest of the 15 ops of the
``timm_increasing`` policies (the mean op takes 0.66 ms). Here the
histograms come from ``cv2.calcHist`` (``np.histogram(im, 256, (0, 255))``
puts grey level ``v`` in bin ``v``: the bins are 255/256 wide) and the
tables, built with mmcv's own arithmetic, are applied in one ``cv2.LUT``
call: the output is mmcv's bit for bit (``tests/test_datasets/
test_transforms/test_lut_ops.py``). ``Solarize`` and ``SolarizeAdd`` map
each grey level on its own: their own arithmetic, applied to the 256
levels, is the table. Images other than ``(H, W, 3)`` uint8 take
mmpretrain's code.
"""
import cv2
import mmcv
import numpy as np
from mmpretrain.datasets.transforms import (AutoContrast, Equalize,
                                            RandAugment, Solarize, SolarizeAdd)
from mmpretrain.registry import TRANSFORMS


def _fast(img) -> bool:
    return isinstance(img, np.ndarray) and img.dtype == np.uint8 \
        and img.ndim == 3 and img.shape[2] == 3 and img.size > 0


def channel_histograms(img: np.ndarray) -> np.ndarray:
    """``(3, 256)`` int64 counts of each grey level per channel."""
    return np.stack([
        cv2.calcHist([img], [c], None, [256], [0, 256]).reshape(-1)
        for c in range(3)
    ]).astype(np.int64)


def auto_contrast_lut(histo: np.ndarray) -> np.ndarray:
    """One channel's table of ``mmcv.auto_contrast`` (cutoff 0), uint8."""
    nonzero = np.flatnonzero(histo)
    low, high = nonzero[0], nonzero[-1]
    if low >= high:  # one grey level: mmcv returns the channel as it is
        return np.arange(256, dtype=np.uint8)
    scale = 255.0 / (high - low)
    lut = np.clip(np.arange(256) * scale + -low * scale, 0, 255)
    return lut.astype(np.uint8)  # mmcv's float result, cast at its end


def equalize_lut(histo: np.ndarray) -> np.ndarray:
    """One channel's table of ``mmcv.imequalize``, uint8."""
    nonzero = histo[histo > 0]
    step = (np.sum(nonzero) - nonzero[-1]) // 255
    if not step:
        return np.arange(256, dtype=np.uint8)
    lut = (np.cumsum(histo) + (step // 2)) // step
    lut = np.concatenate([[0], lut[:-1]], 0)
    lut[lut > 255] = 255
    return lut.astype(np.uint8)


def apply_luts(img: np.ndarray, luts) -> np.ndarray:
    """Channel ``c`` of ``img`` mapped through ``luts[c]``."""
    table = np.stack(luts, axis=-1).reshape(256, 1, 3)
    return cv2.LUT(img, table)


class _ChannelLUT:
    """The ``transform`` of an op whose output is one lookup table per
    channel, made from that channel's histogram by ``channel_lut``; the
    random draw and other images are the mmpretrain parent's."""
    channel_lut = None

    def transform(self, results):
        img = results['img']
        if not _fast(img):
            return super().transform(results)
        if self.random_disable():
            return results
        img = np.ascontiguousarray(img)  # e.g. a flip's view
        lut = type(self).channel_lut
        results['img'] = apply_luts(img,
                                    [lut(h) for h in channel_histograms(img)])
        return results


@TRANSFORMS.register_module()
class AutoContrastLUT(_ChannelLUT, AutoContrast):
    """:class:`mmpretrain.datasets.transforms.AutoContrast`, its pixels and
    random draws, through per-channel lookup tables (module docstring)."""
    channel_lut = staticmethod(auto_contrast_lut)


@TRANSFORMS.register_module()
class EqualizeLUT(_ChannelLUT, Equalize):
    """:class:`mmpretrain.datasets.transforms.Equalize`, its pixels and
    random draws, through per-channel lookup tables (module docstring)."""
    channel_lut = staticmethod(equalize_lut)


_LEVELS = np.arange(256, dtype=np.uint8)


def _apply_table(img: np.ndarray, table: np.ndarray) -> np.ndarray:
    """One uint8 table for every channel of ``img``."""
    return cv2.LUT(np.ascontiguousarray(img), table.astype(np.uint8))


@TRANSFORMS.register_module()
class SolarizeLUT(Solarize):
    """:class:`mmpretrain.datasets.transforms.Solarize`, its pixels and
    random draws: ``mmcv.solarize`` applied to the 256 grey levels once,
    then to the image as a table (0.5 -> 0.03 ms on a 224 px crop)."""

    def transform(self, results):
        img = results['img']
        if not _fast(img):
            return super().transform(results)
        if self.random_disable():
            return results
        thr = self.thr if self.thr is not None else self.random_magnitude()
        results['img'] = _apply_table(img, mmcv.solarize(_LEVELS, thr=thr))
        return results


@TRANSFORMS.register_module()
class SolarizeAddLUT(SolarizeAdd):
    """:class:`mmpretrain.datasets.transforms.SolarizeAdd`, its pixels and
    random draws: its expression applied to the 256 grey levels once, then
    to the image as a table (0.36 -> 0.03 ms on a 224 px crop)."""

    def transform(self, results):
        img = results['img']
        if not _fast(img):
            return super().transform(results)
        if self.random_disable():
            return results
        magnitude = self.magnitude if self.magnitude is not None \
            else self.random_magnitude()
        # SolarizeAdd.transform's expression, on the levels
        table = np.where(_LEVELS < self.thr,
                         np.minimum(_LEVELS + magnitude, 255), _LEVELS)
        results['img'] = _apply_table(img, table)
        return results


#: mmpretrain's ops -> the lookup-table versions RandAugmentLUT builds.
LUT_OPS = {
    'AutoContrast': 'AutoContrastLUT',
    'Equalize': 'EqualizeLUT',
    'Solarize': 'SolarizeLUT',
    'SolarizeAdd': 'SolarizeAddLUT'
}


@TRANSFORMS.register_module()
class RandAugmentLUT(RandAugment):
    """:class:`mmpretrain.datasets.transforms.RandAugment` (the same
    arguments, policies, random draws and pixels) whose ``AutoContrast``,
    ``Equalize``, ``Solarize`` and ``SolarizeAdd`` ops are the lookup-table
    versions here (``LUT_OPS``).

    A type of its own rather than a policy list naming the two ops: the
    list of 15 policies in a config makes mmengine's config dump (yapf)
    take seconds at every ``Runner`` start.

    Examples:
        >>> dict(type='RandAugmentLUT', policies='timm_increasing',
        ...      num_policies=2, total_level=10, magnitude_level=9,
        ...      magnitude_std=0.5)
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for i, policy in enumerate(self.policies):
            if policy['type'] in LUT_OPS:
                self.transforms[i] = TRANSFORMS.build(
                    dict(policy, type=LUT_OPS[policy['type']]))

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""mmpretrain's ``AutoContrast``, ``Equalize``, ``Solarize``,
``SolarizeAdd``, ``Contrast`` and ``Brightness`` RandAugment ops with the
same pixels and random draws, computed through lookup tables.

mmcv computes the first two per channel with ``np.histogram`` over float
bin edges, a float lookup table indexed per pixel, and a stack of the three
channels: 1.9 ms each on a 224 px crop, the two slowest of the 15 ops of the
``timm_increasing`` policies (the mean op takes 0.66 ms). Here the
histograms come from ``cv2.calcHist`` (``np.histogram(im, 256, (0, 255))``
puts grey level ``v`` in bin ``v``: the bins are 255/256 wide) and the
tables, built with mmcv's own arithmetic, are applied in one ``cv2.LUT``
call: the output is mmcv's bit for bit (``tests/test_datasets/
test_transforms/test_lut_ops.py``). ``Solarize`` and ``SolarizeAdd`` map
each grey level on its own: their own arithmetic, applied to the 256
levels, is the table. ``Contrast`` and ``Brightness`` blend each pixel
with a constant in float32 (``cv2.addWeighted`` on float copies of the
image, 0.6 / 0.15 ms): the same ``addWeighted`` on the 256 levels is the
table (:class:`_BlendOp`). Images other than ``(H, W, 3)`` uint8 take
mmpretrain's code.
"""
import cv2
import mmcv
import mmcv.image.photometric as mmcv_photometric
import numpy as np
from mmpretrain.datasets.transforms import (AutoContrast, Brightness, Contrast,
                                            Equalize, RandAugment, Solarize,
                                            SolarizeAdd)
from mmpretrain.registry import TRANSFORMS

#: The 256 grey levels; also the table that changes nothing.
_LEVELS = np.arange(256, dtype=np.uint8)
_LEVELS.setflags(write=False)
_LEVELS_F32 = _LEVELS.astype(np.float32)
_LEVELS_F32.setflags(write=False)


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
        return _LEVELS
    scale = 255.0 / (high - low)
    lut = np.clip(np.arange(256) * scale + -low * scale, 0, 255)
    return lut.astype(np.uint8)  # mmcv's float result, cast at its end


def equalize_lut(histo: np.ndarray) -> np.ndarray:
    """One channel's table of ``mmcv.imequalize``, uint8."""
    nonzero = histo[histo > 0]
    step = (np.sum(nonzero) - nonzero[-1]) // 255
    if not step:
        return _LEVELS
    lut = (np.cumsum(histo) + (step // 2)) // step
    lut = np.concatenate([[0], lut[:-1]], 0)
    lut[lut > 255] = 255
    return lut.astype(np.uint8)


def apply_luts(img: np.ndarray, luts) -> np.ndarray:
    """Channel ``c`` of ``img`` mapped through ``luts[c]``."""
    table = np.stack(luts, axis=-1).reshape(256, 1, 3)
    return cv2.LUT(img, table)


class _TableOp:
    """The ``transform`` of the table ops: mmpretrain's code for other
    images, the parent's random draw, then ``tabled`` (which makes any
    draw of its own in the parent's order)."""

    def transform(self, results):
        img = results['img']
        if not _fast(img):
            return super().transform(results)
        if self.random_disable():
            return results
        results['img'] = self.tabled(np.ascontiguousarray(img))  # e.g. a flip
        return results

    def drawn_magnitude(self):
        """The op's magnitude: fixed, or drawn as the parent draws it."""
        return self.magnitude if self.magnitude is not None \
            else self.random_magnitude()


@TRANSFORMS.register_module()
class AutoContrastLUT(_TableOp, AutoContrast):
    """:class:`mmpretrain.datasets.transforms.AutoContrast`, its pixels and
    random draws, through per-channel lookup tables (module docstring)."""

    def tabled(self, img: np.ndarray) -> np.ndarray:
        return apply_luts(
            img, [auto_contrast_lut(h) for h in channel_histograms(img)])


@TRANSFORMS.register_module()
class EqualizeLUT(_TableOp, Equalize):
    """:class:`mmpretrain.datasets.transforms.Equalize`, its pixels and
    random draws, through per-channel lookup tables (module docstring)."""

    def tabled(self, img: np.ndarray) -> np.ndarray:
        return apply_luts(img,
                          [equalize_lut(h) for h in channel_histograms(img)])


@TRANSFORMS.register_module()
class SolarizeLUT(_TableOp, Solarize):
    """:class:`mmpretrain.datasets.transforms.Solarize`, its pixels and
    random draws: ``mmcv.solarize`` applied to the 256 grey levels once,
    then to the image as a table (0.5 -> 0.03 ms on a 224 px crop)."""

    def tabled(self, img: np.ndarray) -> np.ndarray:
        thr = self.thr if self.thr is not None else self.random_magnitude()
        return cv2.LUT(img, mmcv.solarize(_LEVELS, thr=thr))


@TRANSFORMS.register_module()
class SolarizeAddLUT(_TableOp, SolarizeAdd):
    """:class:`mmpretrain.datasets.transforms.SolarizeAdd`, its pixels and
    random draws: its expression applied to the 256 grey levels once, then
    to the image as a table (0.36 -> 0.03 ms on a 224 px crop)."""

    def tabled(self, img: np.ndarray) -> np.ndarray:
        magnitude = self.drawn_magnitude()
        # SolarizeAdd.transform's expression (and cast), on the levels
        table = np.where(_LEVELS < self.thr,
                         np.minimum(_LEVELS + magnitude, 255), _LEVELS)
        return cv2.LUT(img, table.astype(np.uint8))


def vector_aligned(img: np.ndarray) -> bool:
    """Whether OpenCV's vector loops cover every element of ``img`` (a
    contiguous array, as ``_TableOp`` passes it, whose element count is a
    multiple of 64, e.g. any 224 px or 64 px BGR crop), so that each element
    of a blend goes through the same arithmetic as the elements of a
    256-level probe (no scalar tail, whose rounding may differ)."""
    return img.size % 64 == 0


class _BlendOp:
    """``tabled`` of the blend ops: the parent's magnitude draw, then mmcv's
    own expression applied to the 256 grey levels (``probe``) as the table
    of an elementwise float32 blend, for images :func:`vector_aligned`
    accepts; others get mmcv's call with the same factor."""

    def tabled(self, img: np.ndarray) -> np.ndarray:
        factor = 1 + self.random_negative(self.drawn_magnitude())
        if mmcv_photometric.imread_backend != 'cv2' \
                or not vector_aligned(img):  # mmcv's default backend only
            return self.mmcv_op(img, factor=factor).astype(img.dtype)
        blended = self.probe(img, factor)
        # mmcv's own clip and cast of the float32 result
        return cv2.LUT(img, np.clip(blended, 0, 255).astype(np.uint8))


@TRANSFORMS.register_module()
class ContrastLUT(_BlendOp, _TableOp, Contrast):
    """:class:`mmpretrain.datasets.transforms.Contrast`, its pixels and
    random draws: ``mmcv.adjust_contrast`` blends every pixel with the
    grey mean (``np.histogram`` of the grey image, two float32 copies and
    ``cv2.addWeighted``: 0.6 ms on a 224 px crop); here the mean comes from
    the grey image's sum (the histogram's total is the pixel count) and the
    same ``addWeighted`` runs on the 256 grey levels (~0.05 ms)."""
    mmcv_op = staticmethod(mmcv.adjust_contrast)

    @staticmethod
    def probe(img: np.ndarray, factor: float) -> np.ndarray:
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        mean = round(np.sum(gray) / np.int64(gray.size))  # mmcv's rounding
        degenerated = np.full(256, mean, np.float32)
        return cv2.addWeighted(_LEVELS_F32, factor, degenerated, 1 - factor, 0)


@TRANSFORMS.register_module()
class BrightnessLUT(_BlendOp, _TableOp, Brightness):
    """:class:`mmpretrain.datasets.transforms.Brightness`, its pixels and
    random draws: ``mmcv.adjust_brightness`` (a float32 blend with black,
    ``cv2.addWeighted``) run on the 256 grey levels as the table."""
    mmcv_op = staticmethod(mmcv.adjust_brightness)

    @staticmethod
    def probe(img: np.ndarray, factor: float) -> np.ndarray:
        return cv2.addWeighted(_LEVELS_F32, factor, np.zeros(256, np.float32),
                               1 - factor, 0)


#: mmpretrain's ops -> the lookup-table versions RandAugmentLUT builds.
LUT_OPS = {
    'AutoContrast': 'AutoContrastLUT',
    'Equalize': 'EqualizeLUT',
    'Solarize': 'SolarizeLUT',
    'SolarizeAdd': 'SolarizeAddLUT',
    'Contrast': 'ContrastLUT',
    'Brightness': 'BrightnessLUT'
}


@TRANSFORMS.register_module()
class RandAugmentLUT(RandAugment):
    """:class:`mmpretrain.datasets.transforms.RandAugment` (the same
    arguments, policies, random draws and pixels) whose ``AutoContrast``,
    ``Equalize``, ``Solarize``, ``SolarizeAdd``, ``Contrast`` and
    ``Brightness`` ops are the lookup-table versions here (``LUT_OPS``).

    A type of its own rather than a policy list naming those ops: the list
    of 15 policies in a config makes mmengine's config dump (yapf) take
    seconds at every ``Runner`` start.

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

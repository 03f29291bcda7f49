# Copyright (c) ecdl_mm contributors. All rights reserved.
"""RandAugment's photometric ops on a batch, on the model's device, with the
results of mmcv's cv2 backend.

Each op is ``fn(imgs, recs) -> imgs``: ``imgs`` is a ``(N, 3, H, W)`` float
tensor of uint8 levels (integers 0..255, BGR as mmcv loads them) on any
device and ``recs[i]`` the keyword arguments image ``i``'s mmpretrain 1.2.0
transform passed to its mmcv function (:data:`PHOTOMETRIC_OPS` lists them).
The result is a new tensor of the levels the mmcv function plus the
transform's ``.astype(np.uint8)`` gives, computed without a loop over images
and without reading device values on the host (no CUDA sync). Levels must be
integers in 0..255 (lookup tables index with them); unchecked, since checking
would read them back.

How mmcv's arithmetic is reproduced:

- ``cv2.addWeighted(a, alpha, b, beta, 0)`` runs as ``fma(a, alpha,
  b * beta)`` in float32 (OpenCV's SIMD path; checked bit for bit on every
  pair of levels). The fused sum is taken in float64, where ``a * alpha``
  (8 x 24 bits) is exact, then rounded once to float32. Float outputs are
  then clipped and truncated (``astype``); uint8 outputs are rounded half to
  even and saturated (``saturate_cast``).
- ``cv2.cvtColor(BGR2GRAY)`` on uint8 is OpenCV 5's fixed point
  ``(3735 B + 19235 G + 9798 R + 2**14) >> 15`` (OpenCV 4 used 14 bits).
- ``cv2.filter2D`` with the 3x3 smoothing kernel / 13 rounds the integer
  sum to nearest (never a tie: ``k / 13``) with BORDER_REFLECT_101.
- Maps of one level to another (auto contrast, equalize, contrast,
  brightness, solarize-add) are built per image as 256-entry tables in the
  dtype numpy uses, then gathered.
"""
import math
from typing import Callable, Dict, List, Sequence

import torch
import torch.nn.functional as F

from ...utils.device_upload import upload

Recs = Sequence[dict]

#: OpenCV 5's uint8 BGR2GRAY weights (B, G, R) and shift.
GRAY_WEIGHTS = (3735, 19235, 9798)
GRAY_SHIFT = 15


def _per_image(values: List[float], imgs: torch.Tensor,
               dtype: torch.dtype) -> torch.Tensor:
    """``values`` (one per image) as a ``(N, 1, 1)`` tensor on ``imgs``'s
    device, copied from pinned memory so the host does not wait
    (:func:`~ecdl_mm.utils.device_upload.upload`)."""
    return upload(values, imgs.device, dtype).view(-1, 1, 1)


def _check(imgs: torch.Tensor, recs: Recs, *keys: str) -> None:
    if imgs.dim() != 4 or imgs.shape[1] != 3:
        raise ValueError(f'imgs must be (N, 3, H, W), got {tuple(imgs.shape)}')
    if len(recs) != imgs.shape[0]:
        raise ValueError(f'{len(recs)} recs for {imgs.shape[0]} images')
    for i, rec in enumerate(recs):
        missing = [k for k in keys if k not in rec]
        if missing:
            raise ValueError(f'recs[{i}]={rec!r} lacks {missing}')


def _levels(imgs: torch.Tensor) -> torch.Tensor:
    """The 256 levels ``(1, 1, 256)`` as float64 on ``imgs``'s device."""
    return torch.arange(
        256, dtype=torch.float64, device=imgs.device).view(1, 1, 256)


def _apply_lut(imgs: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """``lut[n, c, imgs[n, c]]`` for a ``(N, 1 or 3, 256)`` table."""
    n = imgs.shape[0]
    idx = imgs.flatten(2).long()
    lut = lut.to(imgs.dtype).expand(n, 3, 256)
    return torch.gather(lut, 2, idx).view(imgs.shape)


def _fma32(a: torch.Tensor, alpha: torch.Tensor, b: torch.Tensor,
           beta: torch.Tensor) -> torch.Tensor:
    """``cv2.addWeighted(a, alpha, b, beta, 0)``'s float32 sum before
    rounding or clipping: ``fma(a, alpha, b * beta)``. ``a``: integer levels;
    ``alpha``, ``beta``: float32; returns float32. The float64 sum is exact
    (so rounded once) unless ``0 < |beta| < ~1e-6``, where a tie could
    round twice."""
    out = a.double() * alpha.double()
    return out.add_(b.float() * beta).float()


def _factor_pair(recs: Recs, key: str, imgs: torch.Tensor):
    """float32 ``(alpha, 1 - alpha)`` per image, as OpenCV receives them
    (``1 - alpha`` is taken in double first, as mmcv does)."""
    alpha = [float(r[key]) for r in recs]
    return (_per_image(alpha, imgs, torch.float32),
            _per_image([1 - a for a in alpha], imgs, torch.float32))


def _to_uint8_trunc(x: torch.Tensor) -> torch.Tensor:
    """``np.clip(x, 0, 255).astype(np.uint8)`` of a float result (in
    place)."""
    return x.clamp_(0, 255).trunc_()


def bgr_to_gray(imgs: torch.Tensor) -> torch.Tensor:
    """``cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)`` of uint8 levels, ``(N, 1,
    H, W)``; exact in float32 (the sum stays below ``2**24``)."""
    wb, wg, wr = GRAY_WEIGHTS
    s = imgs[:, 0:1] * wb
    s.add_(imgs[:, 1:2], alpha=wg).add_(imgs[:, 2:3], alpha=wr)
    s.add_(1 << (GRAY_SHIFT - 1)).mul_(1.0 / (1 << GRAY_SHIFT))
    return s.floor_()


def invert(imgs: torch.Tensor, recs: Recs) -> torch.Tensor:
    """``mmcv.iminvert(img)``."""
    _check(imgs, recs)
    return 255 - imgs


def solarize(imgs: torch.Tensor, recs: Recs) -> torch.Tensor:
    """``mmcv.solarize(img, thr=thr)``: ``255 - img`` where ``img >= thr``.
    For integer levels ``img < thr`` is ``img < ceil(thr)``, exact in
    float32 whatever ``thr``'s float64 value."""
    _check(imgs, recs, 'thr')
    thr = _per_image([math.ceil(r['thr']) for r in recs], imgs, imgs.dtype)
    return torch.where(imgs < thr[:, None], imgs, 255 - imgs)


def solarize_add(imgs: torch.Tensor, recs: Recs) -> torch.Tensor:
    """mmpretrain's ``SolarizeAdd``: ``np.where(img < thr, np.minimum(img +
    magnitude, 255), img).astype(np.uint8)``, the sum in float64."""
    _check(imgs, recs, 'magnitude', 'thr')
    mag = _per_image([float(r['magnitude']) for r in recs], imgs,
                     torch.float64)
    thr = _per_image([float(r['thr']) for r in recs], imgs, torch.float64)
    lv = _levels(imgs)
    lut = torch.where(lv < thr, torch.clamp(lv + mag, max=255).trunc(), lv)
    return _apply_lut(imgs, lut)


def posterize(imgs: torch.Tensor, recs: Recs) -> torch.Tensor:
    """``mmcv.posterize(img, bits=bits)``: the low ``8 - bits`` bits cleared
    (``bits=0`` gives 0, as numpy's ``uint8 >> 8``)."""
    _check(imgs, recs, 'bits')
    bad = [
        r['bits'] for r in recs
        if r['bits'] != int(r['bits']) or not 0 <= r['bits'] <= 8
    ]
    if bad:
        raise ValueError(f'posterize bits must be integers in 0..8, got {bad}')
    q = _per_image([2.0**(8 - int(r['bits'])) for r in recs], imgs,
                   imgs.dtype)[:, None]
    return (imgs / q).floor_().mul_(q)


def auto_contrast(imgs: torch.Tensor, recs: Recs) -> torch.Tensor:
    """``mmcv.auto_contrast(img)`` (cutoff 0): each channel's ``[min, max]``
    stretched to ``[0, 255]`` by numpy's float64 table, truncated; a
    constant channel is left as it is."""
    _check(imgs, recs)
    flat = imgs.flatten(2)
    low = flat.amin(2, keepdim=True).double()
    high = flat.amax(2, keepdim=True).double()
    flat_channel = low >= high
    # tensor / tensor: ``255.0 / t`` is ``255.0 * t.reciprocal()`` in torch,
    # which is not numpy's correctly rounded quotient
    scale = torch.full_like(low, 255.0) / torch.where(flat_channel, 1.0,
                                                      high - low)
    offset = -(low * scale)
    lv = _levels(imgs)
    lut = torch.clamp(lv * scale + offset, 0, 255).trunc()
    return _apply_lut(imgs, torch.where(flat_channel, lv, lut))


def equalize(imgs: torch.Tensor, recs: Recs) -> torch.Tensor:
    """``mmcv.imequalize(img)``: PIL's per-channel histogram equalization,
    in integers; a channel whose ``step`` is 0 is left as it is."""
    _check(imgs, recs)
    n = imgs.shape[0]
    idx = imgs.flatten(2).long()
    hist = torch.zeros(n, 3, 256, dtype=torch.long, device=imgs.device)
    hist.scatter_add_(2, idx, torch.ones_like(idx))
    top = idx.amax(2, keepdim=True)
    step = torch.div(
        idx.shape[2] - hist.gather(2, top), 255, rounding_mode='floor')
    safe = torch.where(step == 0, 1, step)
    lut = torch.div(hist.cumsum(2) + step // 2, safe, rounding_mode='floor')
    lut = F.pad(lut[..., :-1], (1, 0)).clamp(max=255)
    lv = torch.arange(256, device=imgs.device).view(1, 1, 256)
    return _apply_lut(imgs, torch.where(step == 0, lv, lut))


def adjust_brightness(imgs: torch.Tensor, recs: Recs) -> torch.Tensor:
    """``mmcv.adjust_brightness(img, factor=factor)``: ``img * factor``
    blended with black in float32, clipped, truncated."""
    _check(imgs, recs, 'factor')
    alpha, _ = _factor_pair(recs, 'factor', imgs)
    lv = _levels(imgs).float()
    return _apply_lut(imgs, _to_uint8_trunc(lv * alpha))


def adjust_contrast(imgs: torch.Tensor, recs: Recs) -> torch.Tensor:
    """``mmcv.adjust_contrast(img, factor=factor)``: blended with the grey
    image's mean (rounded half to even, as ``round`` does) in float32."""
    _check(imgs, recs, 'factor')
    alpha, beta = _factor_pair(recs, 'factor', imgs)
    n = imgs.shape[0]
    total = bgr_to_gray(imgs).flatten(1).double().sum(1)
    # divided by a tensor: CUDA divides by a host scalar through its
    # reciprocal, which can move a quotient across a .5
    pixels = torch.full_like(total, imgs.shape[2] * imgs.shape[3])
    mean = torch.round(total / pixels)
    lut = _fma32(_levels(imgs), alpha, mean.view(n, 1, 1), beta)
    return _apply_lut(imgs, _to_uint8_trunc(lut))


def adjust_color(imgs: torch.Tensor, recs: Recs) -> torch.Tensor:
    """``mmcv.adjust_color(img, alpha=alpha)``: uint8 ``cv2.addWeighted`` of
    the image and its grey image, rounded half to even and saturated."""
    _check(imgs, recs, 'alpha')
    alpha, beta = _factor_pair(recs, 'alpha', imgs)
    gray = bgr_to_gray(imgs)
    out = _fma32(imgs, alpha[:, None], gray, beta[:, None])
    return out.round_().clamp_(0, 255).to(imgs.dtype)


def smooth(imgs: torch.Tensor) -> torch.Tensor:
    """``cv2.filter2D(img, -1, [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13)``
    (BORDER_REFLECT_101) of uint8 levels; images need ``H, W >= 2``."""
    # shifted sums, not conv2d: cuDNN may run a convolution in TF32
    if min(imgs.shape[-2:]) < 2:
        raise ValueError(
            f'sharpness needs H, W >= 2, got {tuple(imgs.shape[-2:])}')
    p = F.pad(imgs, (1, 1, 1, 1), mode='reflect')
    rows = p[..., :-2, :] + p[..., 1:-1, :]
    rows += p[..., 2:, :]
    s = rows[..., :-2] + rows[..., 1:-1]
    s += rows[..., 2:]
    s.add_(imgs, alpha=4)
    # round(s / 13) is floor((s + 6.5) / 13): k + 1/26 is no tie, and far
    # enough from an integer for a multiply by 1 / 13
    return s.add_(6.5).mul_(1 / 13).floor_()


def adjust_sharpness(imgs: torch.Tensor, recs: Recs) -> torch.Tensor:
    """``mmcv.adjust_sharpness(img, factor=factor)``: blended with the
    smoothed image in float32, clipped, truncated."""
    _check(imgs, recs, 'factor')
    alpha, beta = _factor_pair(recs, 'factor', imgs)
    out = _fma32(imgs, alpha[:, None], smooth(imgs), beta[:, None])
    return _to_uint8_trunc(out).to(imgs.dtype)


#: mmpretrain transform name -> op.
PHOTOMETRIC_OPS: Dict[str, Callable[[torch.Tensor, Recs], torch.Tensor]] = {
    'AutoContrast': auto_contrast,
    'Equalize': equalize,
    'Invert': invert,
    'Posterize': posterize,
    'Solarize': solarize,
    'SolarizeAdd': solarize_add,
    'ColorTransform': adjust_color,
    'Contrast': adjust_contrast,
    'Brightness': adjust_brightness,
    'Sharpness': adjust_sharpness,
}

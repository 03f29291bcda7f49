# Copyright (c) ecdl_mm contributors. All rights reserved.
"""RandAugment's geometric ops (``Rotate``, ``Shear``, ``Translate``) and
``RandomErasing``'s fill, batched in torch on the model's device.

Each op is ``fn(imgs, recs) -> imgs``: ``imgs`` is ``(N, 3, H, W)`` float32
holding uint8 levels in BGR order, ``recs[i]`` the keyword arguments image
``i``'s mmpretrain transform passed to its mmcv function (``mmcv.imrotate``,
``mmcv.imshear``, ``mmcv.imtranslate``; for ``RandomErasing`` the box and the
patch it drew). The result is what that function returns for the image as
uint8, as float32 levels on the same device.

The warps follow ``cv2.warpAffine`` of OpenCV 5 (the one mmcv calls here),
which no longer uses the fixed-point 1/32-pixel tables of OpenCV 4:

* the forward matrix is inverted in double precision and rounded to float32;
  a row's offset ``y * M[1] + M[2]`` is computed in float32 and the source
  coordinate is ``fma(M[0], x, offset)`` in float32 (emulated here in float64,
  where the product is exact);
* 'nearest' takes the pixel at the coordinates rounded half to even;
  'bilinear' interpolates the fractional parts in float32 with fused
  multiply-adds (emulated in float64 likewise), 'bicubic' weights the 4 x 4
  taps with Keys' kernel (a = -0.75) computed in float32; values are rounded
  half to even and saturated to 0..255;
* taps outside the image read the border value (``BORDER_CONSTANT``), done
  here by padding the image with a one-pixel ring of it and clamping tap
  coordinates into the ring.

Per-image parameters are computed on the host and moved in one
non-blocking copy (:func:`ecdl_mm.utils.device_upload.upload`); nothing
reads device values back to the host.
"""
from typing import Callable, Dict, List, Sequence

import cv2
import numpy as np
import torch

from ...utils.device_upload import upload

__all__ = [
    'rotate', 'shear', 'translate', 'warp', 'random_erasing_apply',
    'GEOMETRIC_OPS', 'WARPS'
]

INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic')
_CUBIC_A = -0.75


def _check_keys(rec: dict, allowed: Sequence[str], op: str, i: int) -> None:
    unknown = sorted(set(rec) - set(allowed))
    if unknown:
        raise ValueError(f'{op} record {i}: unknown keys {unknown} '
                         f'(allowed: {sorted(allowed)})')


def _saturate(values) -> np.ndarray:
    """OpenCV's ``saturate_cast<uchar>`` of a border value."""
    return np.clip(np.rint(np.asarray(values, dtype=np.float64)), 0, 255)


def _border_cv2_scalar(value, channels: int) -> np.ndarray:
    """A border value as ``cv2.warpAffine`` reads it (``mmcv.imrotate``
    passes it unchanged): a number fills the first channel only."""
    if isinstance(value, (int, float, np.number)):
        value = [value]
    value = list(value)[:channels]
    return _saturate(value + [0] * (channels - len(value)))


def _border_per_channel(value, channels: int, op: str, i: int) -> np.ndarray:
    """A border value as ``mmcv.imshear`` / ``mmcv.imtranslate`` read it: an
    int for every channel or one value per channel (a list is taken as the
    tuple mmpretrain passes)."""
    if isinstance(value, (int, np.integer)):
        return _saturate([value] * channels)
    if isinstance(value, (tuple, list)) and len(value) == channels:
        return _saturate(value)
    raise ValueError(f'{op} record {i}: border_value={value!r} must be an int '
                     f'or {channels} values, one per channel')


def _interpolation(rec: dict, op: str, i: int) -> str:
    mode = rec.get('interpolation', 'bilinear')
    if mode not in INTERPOLATIONS:
        raise ValueError(f'{op} record {i}: interpolation={mode!r} is not one '
                         f'of {INTERPOLATIONS}')
    return mode


def _coordinate_params(mats: np.ndarray, height: int) -> np.ndarray:
    """Forward ``(N, 2, 3)`` matrices -> ``(N, 2 + 2 * height)`` rows of
    ``[M0, M3, row offsets x (height), row offsets y (height)]`` of the
    inverse map, as float32 values (OpenCV's order of operations)."""
    m = mats.reshape(len(mats), 6).astype(np.float64)
    m0, m1, m2, m3, m4, m5 = (m[:, k] for k in range(6))
    det = m0 * m4 - m1 * m3
    with np.errstate(divide='ignore'):
        det = np.where(det != 0, 1.0 / np.where(det != 0, det, 1.0), 0.0)
    a11, a22 = m4 * det, m0 * det
    i1, i3 = m1 * -det, m3 * -det
    b1 = -a11 * m2 - i1 * m5
    b2 = -i3 * m2 - a22 * m5
    inv = np.stack([a11, i1, b1, i3, a22, b2], 1).astype(np.float32)
    y = np.arange(height, dtype=np.float32)[None]
    # Two float32 roundings (product, then sum): of the variants tried this
    # one picks the same pixels as cv2 for 'nearest' on 4.8M rotated pixels
    # (a fused multiply-add missed 8).
    rows_x = y * inv[:, 1:2] + inv[:, 2:3]
    rows_y = y * inv[:, 4:5] + inv[:, 5:6]
    return np.concatenate([inv[:, [0, 3]], rows_x, rows_y],
                          1).astype(np.float64)


def _cubic_weights(t: torch.Tensor) -> List[torch.Tensor]:
    """OpenCV's ``interpolateCubic`` in float32 for fractions ``t``."""
    a = _CUBIC_A
    t1 = t + 1
    c0 = ((a * t1 - 5 * a) * t1 + 8 * a) * t1 - 4 * a
    c1 = ((a + 2) * t - (a + 3)) * t * t + 1
    u = 1 - t
    c2 = ((a + 2) * u - (a + 3)) * u * u + 1
    c3 = 1 - c0 - c1 - c2
    return [c0, c1, c2, c3]


def _fma(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``a * b + c`` rounded once to float32 (the products are exact in
    float64 for float32 fractions times differences of levels)."""
    return (a.double() * b.double() + c.double()).float()


def _warp_group(imgs: torch.Tensor, params: torch.Tensor,
                mode: str) -> torch.Tensor:
    """Warp ``imgs`` ``(N, C, H, W)`` with ``params`` ``(N, 2 + 2H + C)``
    float64 on the device (:func:`_coordinate_params` then the border)."""
    n, c, h, w = imgs.shape
    m0 = params[:, 0].view(n, 1, 1)
    m3 = params[:, 1].view(n, 1, 1)
    rows_x = params[:, 2:2 + h].view(n, h, 1)
    rows_y = params[:, 2 + h:2 + 2 * h].view(n, h, 1)
    border = params[:, 2 + 2 * h:].to(imgs.dtype).view(n, c, 1, 1)
    x = torch.arange(w, device=imgs.device, dtype=torch.float64)
    sx = (m0 * x + rows_x).float()
    sy = (m3 * x + rows_y).float()

    padded = border.expand(n, c, h + 2, w + 2).clone()
    padded[:, :, 1:-1, 1:-1] = imgs
    padded = padded.view(n, c, -1)

    def rows(iy: torch.Tensor, k: int) -> List[torch.Tensor]:
        return [(iy + d).clamp_(-1, h).add_(1).mul_(w + 2) for d in range(k)]

    def cols(ix: torch.Tensor, k: int) -> List[torch.Tensor]:
        return [(ix + d).clamp_(-1, w).add_(1) for d in range(k)]

    def tap(row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
        idx = (row + col).view(n, 1, -1).expand(n, c, h * w)
        return padded.gather(2, idx).view(n, c, h, w)

    if mode == 'nearest':
        return tap(
            rows(sy.round().long(), 1)[0],
            cols(sx.round().long(), 1)[0])

    fx, fy = sx.floor(), sy.floor()
    ax, ay = (sx - fx).unsqueeze(1), (sy - fy).unsqueeze(1)
    ix, iy = fx.long(), fy.long()
    if mode == 'bilinear':
        (r0, r1), (c0, c1) = rows(iy, 2), cols(ix, 2)
        p00, p01 = tap(r0, c0), tap(r0, c1)
        v0 = _fma(ax, p01 - p00, p00)
        p10, p11 = tap(r1, c0), tap(r1, c1)
        v1 = _fma(ax, p11 - p10, p10)
        out = _fma(ay, v1 - v0, v0)
    else:
        wx, wy = _cubic_weights(ax), _cubic_weights(ay)
        ry, cx = rows(iy - 1, 4), cols(ix - 1, 4)
        out = None
        for dy in range(4):
            row = tap(ry[dy], cx[0]) * wx[0]
            for dx in range(1, 4):
                row += tap(ry[dy], cx[dx]) * wx[dx]
            row *= wy[dy]
            out = row if out is None else out.add_(row)
    return out.round().clamp_(0, 255)


def _warp_affine(imgs: torch.Tensor, mats: np.ndarray, borders: np.ndarray,
                 modes: Sequence[str]) -> torch.Tensor:
    """``cv2.warpAffine`` of each image with its forward matrix ``mats[i]``
    (``(N, 2, 3)``), output size = input size, constant border
    ``borders[i]`` (``(N, C)``) and interpolation ``modes[i]``."""
    n, _, h, _ = imgs.shape
    packed = np.concatenate([_coordinate_params(mats, h), borders], 1)
    if len(set(modes)) == 1:
        params = upload(packed, imgs.device, torch.float64)
        return _warp_group(imgs, params, modes[0])
    order = [
        i for mode in INTERPOLATIONS for i in range(n) if modes[i] == mode
    ]
    params = upload(
        np.concatenate([packed[order], np.array(order)[:, None]], 1),
        imgs.device, torch.float64)
    index = params[:, -1].long()
    out = torch.empty_like(imgs)
    start = 0
    for mode in INTERPOLATIONS:
        count = sum(m == mode for m in modes)
        if count:
            part = index[start:start + count]
            out[part] = _warp_group(imgs[part],
                                    params[start:start + count, :-1], mode)
            start += count
    return out


def _shape_check(imgs: torch.Tensor, recs: Sequence[dict], op: str) -> None:
    if imgs.dim() != 4 or imgs.shape[1] != 3:
        raise ValueError(f'{op}: imgs must be (N, 3, H, W), got '
                         f'{tuple(imgs.shape)}')
    if len(recs) != imgs.shape[0]:
        raise ValueError(f'{op}: {len(recs)} records for '
                         f'{imgs.shape[0]} images')


def _rotation(rec: dict, i: int, c: int, h: int, w: int):
    """``mmcv.imrotate``'s matrix and border value for one record."""
    allowed = ('angle', 'center', 'scale', 'border_value', 'interpolation',
               'auto_bound', 'border_mode')
    _check_keys(rec, allowed, 'Rotate', i)
    if rec.get('auto_bound', False) or rec.get('border_mode',
                                               'constant') != 'constant':
        raise ValueError(f'Rotate record {i}: only auto_bound=False and '
                         "border_mode='constant' are supported")
    center = rec.get('center')
    center = ((w - 1) * 0.5,
              (h - 1) * 0.5) if center is None else tuple(center)
    mat = cv2.getRotationMatrix2D(center, -float(rec['angle']),
                                  float(rec.get('scale', 1.0)))
    return mat, _border_cv2_scalar(rec.get('border_value', 0), c)


def _axis(rec: dict, op: str, i: int, c: int):
    """Shear (``magnitude``) or Translate (``offset``): mmcv builds a
    float32 matrix with the value off the diagonal (shear) or in the last
    column (translate) of the row ``direction`` names."""
    key = _AXIS_KEYS[op]
    _check_keys(rec, (key, 'direction', 'border_value', 'interpolation'), op,
                i)
    direction = rec.get('direction', 'horizontal')
    if direction not in ('horizontal', 'vertical'):
        raise ValueError(f"{op} record {i}: direction={direction!r} is "
                         "not 'horizontal' or 'vertical'")
    mat = np.float32([[1, 0, 0], [0, 1, 0]])
    value = np.float32(rec[key])
    row = 0 if direction == 'horizontal' else 1
    if key == 'offset':
        mat[row, 2] = value
    else:
        mat[row, 1 - row] = value
    return mat, _border_per_channel(rec.get('border_value', 0), c, op, i)


_AXIS_KEYS = dict(Shear='magnitude', Translate='offset')


def _warp_ops(imgs: torch.Tensor, recs: Sequence[dict],
              ops: Sequence[str]) -> torch.Tensor:
    """Image ``i`` warped as ``ops[i]`` ('Rotate', 'Shear' or 'Translate')
    with ``recs[i]``: every image in one pass, whatever its op."""
    _shape_check(imgs, recs, '/'.join(sorted(set(ops))) or 'warp')
    n, c, h, w = imgs.shape
    if n == 0:
        return imgs.clone()
    mats, borders, modes = [], [], []
    for i, (rec, op) in enumerate(zip(recs, ops)):
        if op == 'Rotate':
            mat, border = _rotation(rec, i, c, h, w)
        elif op in _AXIS_KEYS:
            mat, border = _axis(rec, op, i, c)
        else:
            raise ValueError(f'warp record {i}: unknown op {op!r}')
        mats.append(np.asarray(mat, np.float64))
        borders.append(border)
        modes.append(_interpolation(rec, op, i))
    return _warp_affine(imgs, np.stack(mats), np.stack(borders), modes)


def rotate(imgs: torch.Tensor, recs: Sequence[dict]) -> torch.Tensor:
    """``mmcv.imrotate(img, **recs[i])`` for each image (keys ``angle``,
    ``center``, ``scale``, ``border_value``, ``interpolation``,
    ``auto_bound`` (False only), ``border_mode`` ('constant' only))."""
    return _warp_ops(imgs, recs, ['Rotate'] * len(recs))


def shear(imgs: torch.Tensor, recs: Sequence[dict]) -> torch.Tensor:
    """``mmcv.imshear(img, **recs[i])`` for each image (keys
    ``magnitude``, ``direction``, ``border_value``, ``interpolation``)."""
    return _warp_ops(imgs, recs, ['Shear'] * len(recs))


def translate(imgs: torch.Tensor, recs: Sequence[dict]) -> torch.Tensor:
    """``mmcv.imtranslate(img, **recs[i])`` for each image (keys ``offset``
    in pixels, ``direction``, ``border_value``, ``interpolation``)."""
    return _warp_ops(imgs, recs, ['Translate'] * len(recs))


def warp(imgs: torch.Tensor, recs: Sequence[dict]) -> torch.Tensor:
    """Rotate, Shear and Translate records mixed in one batch (each with
    its ``type``), warped in one pass: one gather per bicubic tap for all
    of them instead of one pass per op."""
    ops = [rec.get('type') for rec in recs]
    return _warp_ops(imgs, [{
        k: v
        for k, v in r.items() if k != 'type'
    } for r in recs], ops)


def random_erasing_apply(imgs: torch.Tensor,
                         recs: Sequence[dict]) -> torch.Tensor:
    """Write each record's ``patch`` (uint8 ``(h, w, 3)`` BGR, drawn by
    mmpretrain's ``RandomErasing`` in the loader) at ``top``/``left``, as
    ``RandomErasing._fill_pixels`` does. The patches travel in one buffer;
    every image is filled in one pass."""
    _shape_check(imgs, recs, 'RandomErasing')
    n, c, h, w = imgs.shape
    if n == 0:
        return imgs.clone()
    boxes, chunks, offset = [], [], 0
    for i, rec in enumerate(recs):
        _check_keys(rec, ('top', 'left', 'h', 'w', 'patch'), 'RandomErasing',
                    i)
        top, left, ph, pw = (int(rec[k]) for k in ('top', 'left', 'h', 'w'))
        patch = np.asarray(rec['patch'])
        if patch.dtype != np.uint8 or patch.shape != (ph, pw, c):
            raise ValueError(f'RandomErasing record {i}: patch must be uint8 '
                             f'{(ph, pw, c)}, got {patch.dtype} '
                             f'{patch.shape}')
        if top < 0 or left < 0 or top + ph > h or left + pw > w:
            raise ValueError(f'RandomErasing record {i}: box top={top} '
                             f'left={left} h={ph} w={pw} is outside the '
                             f'{h}x{w} image')
        boxes.append((top, left, ph, pw, offset))
        chunks.append(patch.reshape(-1))
        offset += patch.size
    chunks.append(np.zeros(c, np.uint8))  # the indices stay valid if all empty
    params = upload(boxes, imgs.device, torch.int64)
    buf = upload(np.concatenate(chunks), imgs.device, torch.uint8)
    top, left, ph, pw, off = (params[:, k].view(n, 1, 1) for k in range(5))
    ry = torch.arange(h, device=imgs.device).view(1, h, 1) - top
    rx = torch.arange(w, device=imgs.device).view(1, 1, w) - left
    inside = (ry >= 0) & (ry < ph) & (rx >= 0) & (rx < pw)
    base = torch.where(inside, off + (ry * pw + rx) * c, 0)
    channel = torch.arange(c, device=imgs.device).view(1, c, 1, 1)
    values = buf[base.unsqueeze(1) + channel].to(imgs.dtype)
    return torch.where(inside.unsqueeze(1), values, imgs)


GeometricOp = Callable[[torch.Tensor, Sequence[dict]], torch.Tensor]

#: the ops :func:`warp` takes together
WARPS = ('Rotate', 'Shear', 'Translate')

GEOMETRIC_OPS: Dict[str, GeometricOp] = {
    'Rotate': rotate,
    'Shear': shear,
    'Translate': translate,
    'RandomErasing': random_erasing_apply,
}

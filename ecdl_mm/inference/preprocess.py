# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The test pipeline's geometry and normalisation as torch ops on a device.

:class:`DevicePreprocessor` takes decoded uint8 BGR images (``H, W, 3``),
uploads each once (through a reused pinned buffer and a non-blocking copy on
CUDA) and runs, on that device, what the CPU test pipeline and the model's
data preprocessor do after decoding: the frame loader's decode-factor
reduction (live frames), ``CenterCropRatio``, ``Resize`` (``keep_ratio=False``;
Pillow's antialiased bilinear/bicubic, or OpenCV's), the channel flip and the
normalisation. Each resize rounds to uint8 levels as the CPU transforms do,
Pillow's in its two passes, OpenCV's ``INTER_AREA`` with its fractional
edge weights.

Tolerance (``tests/test_inference/test_preprocess.py``, measured on the demo
frames, 64 and 224 px configs, whole and 0.875 crop): at most 1 grey level
per pixel before normalisation (1 / std after it), at least 99.9% of the
values exactly equal (fixed-point rounding in Pillow and OpenCV); the flip
is the view's (:func:`ecdl_mm.inference.view_probs`).

On the CPU the inferencers keep the numpy pipeline (it is faster there);
this module is what they use on a GPU (``preprocess='device'``).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..utils.tensor_resize import RESIZE_MODES, resize_levels
from .frame_loader import frame_plan


class UnsupportedTransform(ValueError):
    """A test transform with no device implementation; the message names
    it (the caller falls back to the CPU pipeline)."""


#: ``_area_weights`` by (n_in, n_out, device): a frame size's weights are
#: made once (building them took ~1.8 ms of CPU per 1009-row frame, most of
#: the live model stage's time outside the model on a GPU).
_AREA_WEIGHTS: Dict[tuple, torch.Tensor] = {}


def _area_weights(n_in: int, n_out: int, like: torch.Tensor) -> torch.Tensor:
    """``(n_out, n_in)`` weights of OpenCV's ``INTER_AREA`` reduction: each
    output pixel averages the input interval it covers, fractions of the
    edge pixels included (cached per size and device)."""
    key = (n_in, n_out, str(like.device))
    cached = _AREA_WEIGHTS.get(key)
    if cached is not None:
        return cached
    scale = n_in / n_out
    lo = torch.arange(n_out, dtype=torch.float64) * scale
    hi = lo + scale
    edges = torch.arange(n_in + 1, dtype=torch.float64)
    overlap = (torch.minimum(hi[:, None], edges[None, 1:]) -
               torch.maximum(lo[:, None], edges[None, :-1])).clamp_(min=0)
    weights = (overlap / scale).to(like.device, torch.float32)
    if len(_AREA_WEIGHTS) >= 32:
        _AREA_WEIGHTS.pop(next(iter(_AREA_WEIGHTS)))
    _AREA_WEIGHTS[key] = weights
    return weights


def _area(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """OpenCV's ``INTER_AREA`` reduction to ``size = (h, w)``: a box mean
    along an axis reduced by a whole factor, a product with the fractional
    weights along the other; rounded to uint8 levels."""
    h, w = x.shape[-2:]
    if h % size[0] == 0:
        x = F.avg_pool2d(x, (h // size[0], 1))
    else:
        x = torch.matmul(_area_weights(h, size[0], x), x)
    if w % size[1] == 0:
        x = F.avg_pool2d(x, (1, w // size[1]))
    else:
        x = torch.matmul(x, _area_weights(w, size[1], x).t())
    return x.round_().clamp_(0, 255)


class DevicePreprocessor:
    """Crop, resize and normalise decoded frames on ``device``.

    Args:
        transforms (Sequence[dict]): The test pipeline's transforms after
            the loading one (``CenterCropRatio``, ``Resize`` with
            ``keep_ratio=False``, ``PackInputs``).
        mean, std (Sequence[float]): The data preprocessor's, per channel
            in the model's channel order (None: no normalisation).
        to_rgb (bool): Flip BGR to RGB before normalising.
        device (str | torch.device): Where to compute.
        frame_loader (dict, optional): The config's loading transform, for
            frames decoded at full size (the live path): its decode-factor
            reduction and edge resize are applied as ``LoadFrame`` does.

    Raises:
        UnsupportedTransform: For a transform it cannot run.
    """

    def __init__(self,
                 transforms: Sequence[dict],
                 mean: Optional[Sequence[float]],
                 std: Optional[Sequence[float]],
                 to_rgb: bool,
                 device='cpu',
                 frame_loader: Optional[dict] = None) -> None:
        self.device = torch.device(device)
        self.steps = [self._check(dict(t)) for t in transforms]
        self.steps = [s for s in self.steps if s is not None]
        self.loader = dict(frame_loader) if frame_loader else None
        if self.loader and self.loader.get('type') not in ('LoadImageFromFile',
                                                           'LoadResizedImage'):
            raise UnsupportedTransform(
                f"no device version of loader {self.loader.get('type')!r}")
        self.to_rgb = bool(to_rgb)
        self.mean = self.std = None
        if mean is not None:
            self.mean = torch.tensor(
                mean, dtype=torch.float32,
                device=self.device).view(1, -1, 1, 1)
            self.std = torch.tensor(
                std, dtype=torch.float32,
                device=self.device).view(1, -1, 1, 1)
        self._pinned: Dict[tuple, torch.Tensor] = {}
        self._copied: Optional[torch.cuda.Event] = None

    @staticmethod
    def _check(t: dict) -> Optional[dict]:
        kind = str(t.get('type', '')).split('.')[-1]
        if kind == 'PackInputs':
            return None
        if kind == 'CenterCropRatio':
            return dict(type=kind, ratio=float(t['ratio']))
        if kind == 'Resize' and not t.get('keep_ratio', False) and \
                t.get('scale') is not None and \
                t.get('interpolation', 'bilinear') in RESIZE_MODES:
            scale = t['scale']
            w, h = (scale, scale) if isinstance(scale, int) else scale
            return dict(
                type=kind,
                size=(int(h), int(w)),
                interpolation=t.get('interpolation', 'bilinear'),
                backend=t.get('backend', 'cv2'))
        raise UnsupportedTransform(f'no device version of test transform {t}')

    @classmethod
    def from_model(cls,
                   pipeline: Sequence[dict],
                   data_preprocessor,
                   device,
                   frames: bool = False) -> 'DevicePreprocessor':
        """From a test pipeline (loading transform first) and the model's
        data preprocessor.

        Args:
            pipeline (Sequence[dict]): The test pipeline (view applied).
            data_preprocessor: The model's (``mean``, ``std``, ``to_rgb``).
            device: Where to compute.
            frames (bool): The images are full-size frames (apply the
                loader's reduction here); else the loader ran already.
        """
        pre = data_preprocessor
        to_rgb = bool(
            getattr(pre, 'to_rgb', getattr(pre, '_channel_conversion', False)))
        mean = std = None
        if getattr(pre, '_enable_normalize', False):
            mean = pre.mean.flatten().tolist()
            std = pre.std.flatten().tolist()
        return cls(
            pipeline[1:],
            mean,
            std,
            to_rgb,
            device,
            frame_loader=pipeline[0] if frames else None)

    # ------------------------------------------------------------- upload
    def upload(self, img: np.ndarray) -> torch.Tensor:
        """A uint8 ``(H, W, 3)`` image as a ``(1, 3, H, W)`` float tensor on
        the device (one host-to-device copy of the uint8 data); a tensor is
        a ``(3, H, W)`` uint8 image decoded already (on the device:
        :mod:`~.device_decode`)."""
        if isinstance(img, torch.Tensor):
            return img.to(self.device)[None].float()
        t = torch.from_numpy(np.ascontiguousarray(img))
        if self.device.type == 'cuda':
            buf = self._pinned.get(tuple(t.shape))
            if buf is None:
                buf = self._pinned[tuple(t.shape)] = torch.empty(
                    t.shape, dtype=t.dtype, pin_memory=True)
            if self._copied is not None:
                self._copied.synchronize()  # the buffer's last copy is done
            buf.copy_(t)
            t = buf.to(self.device, non_blocking=True)
            self._copied = torch.cuda.Event()
            self._copied.record()
        elif t.device != self.device:
            t = t.to(self.device)
        if t.dim() == 2:
            t = t[..., None].expand(*t.shape, 3)
        return t.permute(2, 0, 1)[None].float()

    # ------------------------------------------------------------ geometry
    def _load(self, x: torch.Tensor) -> torch.Tensor:
        if self.loader is None:
            return x
        h, w = x.shape[-2:]
        factor, size = frame_plan(w, h, self.loader)
        if factor > 1:
            x = _area(x, (h // factor, w // factor))
        if size is not None:  # LoadFrame's bilinear resize
            x = resize_levels(x, (size[1], size[0]), 'bilinear', 'cv2')
        return x

    def geometry(self, x: torch.Tensor) -> torch.Tensor:
        """The loader reduction (frames), crop and resize of ``(B, 3, H, W)``
        float images at uint8 levels."""
        x = self._load(x)
        for s in self.steps:
            if s['type'] == 'CenterCropRatio':
                h, w = x.shape[-2:]
                side = max(1, int(round(s['ratio'] * min(h, w))))
                top, left = (h - side) // 2, (w - side) // 2
                x = x[..., top:top + side, left:left + side]
            else:
                x = resize_levels(x, s['size'], s['interpolation'],
                                  s['backend'])
        return x

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """The data preprocessor's channel flip and normalisation."""
        if self.to_rgb:
            x = x.flip(1)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x

    def __call__(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Decoded BGR uint8 images -> the normalised ``(B, 3, H, W)``
        float batch the model takes, on the device."""
        if not len(images):
            raise ValueError('no image to pre-process')
        shapes = {tuple(np.shape(i)) for i in images}
        if len(shapes) == 1:  # one resize call for the whole batch
            x = torch.cat([self.upload(i) for i in images])
            return self.normalise(self.geometry(x))
        out: List[torch.Tensor] = [
            self.geometry(self.upload(i)) for i in images
        ]
        return self.normalise(torch.cat(out))


#: ``preprocess=`` of the inferencers (``--preprocess``).
PREPROCESS_MODES = ('auto', 'pipeline', 'device')


def device_preprocessor(pipeline: Sequence[dict],
                        model,
                        mode: str = 'auto',
                        frames: bool = False) -> Optional[DevicePreprocessor]:
    """The :class:`DevicePreprocessor` an inferencer uses, or None for the
    CPU pipeline.

    Args:
        pipeline (Sequence[dict]): The test pipeline (view applied).
        model: The classifier (its device and data preprocessor).
        mode (str): ``'pipeline'``: the CPU pipeline; ``'device'``: on the
            model's device (an error for a transform it cannot run);
            ``'auto'``: on the device when it is a GPU and every transform
            has a device version, else the CPU pipeline (faster on a CPU).
        frames (bool): See :meth:`DevicePreprocessor.from_model`.

    Raises:
        ValueError: For an unknown mode.
        UnsupportedTransform: With ``'device'`` and a transform it cannot
            run.
    """
    if mode not in PREPROCESS_MODES:
        raise ValueError(
            f'preprocess={mode!r} must be one of {PREPROCESS_MODES}')
    device = next(model.parameters()).device
    if mode == 'pipeline' or (mode == 'auto' and device.type != 'cuda'):
        return None
    try:
        return DevicePreprocessor.from_model(pipeline, model.data_preprocessor,
                                             device, frames)
    except UnsupportedTransform:
        if mode == 'device':
            raise
        return None

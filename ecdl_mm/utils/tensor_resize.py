# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Image resizing as torch ops, rounded to uint8 levels as the CPU
transforms round: shared by the inference pre-processing on a device
(:mod:`ecdl_mm.inference.preprocess`), the training crops decoded on a
device (:class:`ecdl_mm.models.EncodedCropDataPreprocessor`) and the loader
workers' crops (``LoadRandomResizedCrop(backend='torch')``)."""
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F

#: Interpolations with a torch version (mmcv's / Pillow's names).
RESIZE_MODES = {
    'bilinear': 'bilinear',
    'bicubic': 'bicubic',
    'nearest': 'nearest'
}


def resize_family(backend: str) -> str:
    """The resize arithmetic a backend name stands for: ``'torch'`` (the
    loader's :func:`resize_uint8`) computes Pillow's filter, so it is
    ``'pillow'``; ``'cv2'`` and ``'pillow'`` are themselves. Shared by the
    loader's box sampler and the GPU-decode data preprocessor."""
    return 'pillow' if backend == 'torch' else backend


def resize_levels(x: torch.Tensor, size: Tuple[int, int], interpolation: str,
                  backend: str) -> torch.Tensor:
    """``(B, C, H, W)`` float -> ``(B, C, h, w)``, rounded to uint8 levels
    (``size = (h, w)``). Pillow's antialiased filters run as Pillow does:
    horizontal pass, rounding, vertical pass, rounding."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    mode = RESIZE_MODES[interpolation]
    if mode == 'nearest':
        return F.interpolate(x, size=size, mode=mode)
    if backend != 'pillow':
        out = F.interpolate(x, size=size, mode=mode, align_corners=False)
        return out.round_().clamp_(0, 255)
    for step in ((x.shape[-2], size[1]), tuple(size)):
        if tuple(x.shape[-2:]) != step:
            x = F.interpolate(
                x, size=step, mode=mode, align_corners=False, antialias=True)
            x = x.round_().clamp_(0, 255)
    return x


#: torch's antialiased kernels by mode, called as ``F.interpolate`` calls
#: them, with an ``out`` tensor (see :func:`resize_uint8`).
_AA_KERNELS = {
    'bilinear': getattr(torch._C._nn, '_upsample_bilinear2d_aa', None),
    'bicubic': getattr(torch._C._nn, '_upsample_bicubic2d_aa', None)
}


def resize_uint8(img, size: Tuple[int, int], interpolation: str):
    """Resize an ``(H, W, C)`` uint8 array to ``size = (w, h)`` with
    Pillow's antialiased ``'bilinear'`` / ``'bicubic'`` filter, computed by
    torch's uint8 kernel (channels last, one pass per axis, each rounded to
    uint8 as Pillow rounds): within 1 grey level of ``PIL.Image.resize``,
    3x-5x faster than it on a CPU core (``benchmarks/bench_data_pipeline.py``).
    Returns a C-contiguous ``(h, w, C)`` uint8 array.

    The kernel writes into a channels-last view of that array (its ``out``
    argument): ``F.interpolate`` returns channels-first memory, whose
    ``(h, w, C)`` view is strided, and every OpenCV op after it (flip,
    RandAugment) would first copy it (0.1-0.2 ms per 224 px crop); the
    ``out`` call also skips the kernel's own repacking (0.23 vs 0.30 ms for
    a 400 px box to 224 px, bicubic). The same pixels either way
    (``tests/test_utils/test_tensor_resize.py``)."""
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    out = np.empty((size[1], size[0], img.shape[2]), np.uint8)
    kernel = _AA_KERNELS.get(interpolation)
    if kernel is not None:
        try:
            kernel(
                x, [size[1], size[0]],
                False,
                None,
                out=torch.from_numpy(out).permute(2, 0, 1)[None])
            return out
        except (RuntimeError, TypeError):  # a torch without the out form
            pass
    out[...] = F.interpolate(
        x,
        size=(size[1], size[0]),
        mode=RESIZE_MODES[interpolation],
        align_corners=False,
        antialias=True)[0].permute(1, 2, 0).numpy()
    return out

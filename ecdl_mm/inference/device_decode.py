# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Still images decoded on the model's device (``decode='device'``).

The decoding threads only read each file's bytes; the JPEGs of a batch are
then decoded in one call on the model's device (nvJPEG through
``torchvision.io.decode_jpeg`` on a GPU; libjpeg-turbo on a CPU, which is
how the tests check the path) and go through the device pre-processing as
full-size frames: the loading transform's decode-factor reduction by area
averaging (as for live frames, :func:`~.frame_loader.frame_plan`), then the
crop, resize and normalisation of :class:`~.preprocess.DevicePreprocessor`.

Tolerance: against the CPU path that decodes at the reduced DCT scale, the
images differ by a few grey levels (area averaging of the full decode vs
libjpeg's scaled IDCT); the probabilities of the demo model agree to the
tolerance stated in ``tests/test_inference/test_device_decode.py``.

Files that are not JPEG (PNG, ...) and JPEGs with an EXIF orientation to
apply (the CPU decoders apply it, nvJPEG does not) are decoded in the thread
on the CPU by the loader's own full decode and join the batch as arrays; a
file neither can decode raises :class:`~.image_batches.LesionInputError`
naming it.
"""
from typing import List, Sequence, Union

import numpy as np
import torch

from ..datasets.transforms.load_resized_image import (decode_full,
                                                      read_image_bytes,
                                                      read_jpeg_info)
from ..utils.device_jpeg import decode_jpegs
from .image_batches import LesionInputError

#: ``decode=`` of :class:`~ecdl_mm.apis.LesionInferencer` (``--decode``).
DECODE_MODES = ('auto', 'cpu', 'device')


class EncodedImageReader:
    """The loading transform's file reading without the decoding: ``img``
    is the file's bytes as a 1-D uint8 tensor for a JPEG the device can
    decode, else the loader's own full decode (BGR array).

    Args:
        loader: The built loading transform (``LoadResizedImage`` or
            ``LoadImageFromFile``; its file backend is used).
    """

    def __init__(self, loader) -> None:
        if getattr(loader, 'color_type', 'color') != 'color':
            raise ValueError(
                "decode='device' decodes colour images; the config's loader "
                f'has color_type={loader.color_type!r} (use decode=\'cpu\')')
        self.loader = loader

    def __call__(self, results: dict) -> dict:
        path = results['img_path']
        data = read_image_bytes(self.loader, path)
        info = read_jpeg_info(data)
        if info is not None and info[3]:  # a JPEG decoded as stored
            img = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        else:
            img = decode_full(self.loader, data, path)
        return dict(img=img, img_path=path)


def decode_on_device(items: Sequence[Union[np.ndarray, torch.Tensor]],
                     paths: Sequence[str],
                     device: Union[str, torch.device]) -> list:
    """The encoded JPEGs of ``items`` decoded in one call on ``device``, as
    ``(3, H, W)`` uint8 BGR tensors; the arrays (decoded on the CPU) as
    they are (:meth:`~.preprocess.DevicePreprocessor.upload` takes both).

    Raises:
        LesionInputError: Naming the first file the decoder refuses.
    """
    device = torch.device(device)
    out: List = [None] * len(items)
    encoded = [i for i, x in enumerate(items) if isinstance(x, torch.Tensor)]
    if encoded:
        decoded, errors = decode_jpegs([items[i] for i in encoded], device)
        for k, i in enumerate(encoded):
            if decoded[k] is None:  # the first file the decoder refuses
                raise LesionInputError(
                    f'cannot read image {paths[i]}: {errors[k]}')
            out[i] = decoded[k].flip(0)  # RGB -> BGR, the loaders' order
    return [x if o is None else o for x, o in zip(items, out)]


class DeviceDecoder:
    """Decode a batch on the device (:func:`decode_on_device`) and
    pre-process it as full-size frames (``pre``: a
    :class:`~.preprocess.DevicePreprocessor` with the loader's reduction).
    """

    def __init__(self, pre) -> None:
        self.pre, self.device = pre, pre.device

    def __call__(self, images: Sequence, samples: Sequence) -> torch.Tensor:
        paths = [s.get('img_path', '?') for s in samples]
        return self.pre(decode_on_device(images, paths, self.device))


def device_decoder(pipeline: Sequence[dict],
                   model,
                   device_pre,
                   mode: str = 'cpu'):
    """A :class:`DeviceDecoder` for ``mode='device'``, None for ``'cpu'``;
    ``'auto'`` is ``'device'`` when the pre-processing runs on a GPU (one
    batched nvJPEG call: batch-1 latency 3.9 ms per image on an H200
    against 7.5 ms decoding on the CPU), else ``'cpu'``.

    Raises:
        ValueError: For an unknown mode, or ``'device'`` without the device
            pre-processing (``device_pre`` None).
    """
    from .preprocess import DevicePreprocessor
    if mode not in DECODE_MODES:
        raise ValueError(f'decode={mode!r} must be one of {DECODE_MODES}')
    if mode == 'auto':
        on_gpu = device_pre is not None and device_pre.device.type == 'cuda'
        mode = 'device' if on_gpu else 'cpu'
    if mode == 'cpu':
        return None
    if device_pre is None:
        raise ValueError(
            "decode='device' needs the pre-processing on the device "
            "(preprocess='device', or 'auto' with the model on a GPU)")
    return DeviceDecoder(
        DevicePreprocessor.from_model(
            pipeline, model.data_preprocessor, device_pre.device, frames=True))

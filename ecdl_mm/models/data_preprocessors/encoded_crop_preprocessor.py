# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The data preprocessor that decodes training crops on the model's device
(:class:`~ecdl_mm.datasets.transforms.LoadEncodedRandomResizedCrop`)."""
import warnings
from typing import List, Sequence

import cv2
import numpy as np
import torch
from mmpretrain.models.utils.data_preprocessor import (ClsDataPreprocessor,
                                                       SelfSupDataPreprocessor)
from mmpretrain.registry import MODELS

from ...utils.device_jpeg import decode_jpegs
from ...utils.device_upload import upload
from ...utils.tensor_resize import RESIZE_MODES, resize_family, resize_levels
from .augment_records import apply_device_augments

#: Whether a file refused by the device decoder was reported already.
_FALLBACK_WARNED = False


def _decode_batch(items: Sequence[torch.Tensor], paths: Sequence[str],
                  device: torch.device) -> List[torch.Tensor]:
    """JPEG bytes -> ``(3, H, W)`` uint8 RGB tensors on ``device``
    (:func:`~ecdl_mm.utils.device_jpeg.decode_jpegs`); a file the device
    decoder refuses is decoded on the CPU by OpenCV (said once per
    process, with the first such file)."""
    global _FALLBACK_WARNED
    out, errors = decode_jpegs(items, device)
    if errors and not _FALLBACK_WARNED:
        _FALLBACK_WARNED = True
        k = min(errors)
        warnings.warn(
            f'{len(errors)} of {len(items)} training JPEGs of a batch were '
            f'refused by the {torch.device(device).type} decoder and decoded '
            f'by OpenCV on the CPU instead (first: {paths[k]}: {errors[k]}); '
            'later ones are not reported')
    for k, img in enumerate(out):
        if img is None:
            bgr = cv2.imdecode(items[k].numpy(), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f'cannot decode training image {paths[k]}')
            rgb = np.ascontiguousarray(bgr[..., ::-1].transpose(2, 0, 1))
            out[k] = upload(rgb, device, torch.uint8)
    return out


def _on(have: torch.device, want: torch.device) -> bool:
    """Whether a tensor on ``have`` is on ``want``: mmengine moves models
    to ``'cuda'`` (no index), while tensors live on ``'cuda:0'``."""
    return have.type == want.type and (want.index is None
                                       or have.index == want.index)


def _labels_to(samples, device: torch.device) -> None:
    """Move the samples' ``gt_label`` to ``device`` in one non-blocking
    copy. ``ClsDataPreprocessor`` moves the batch's labels with a blocking
    ``.to()``, which on a GPU waits for the decode and augmentation kernels
    just queued before the forward can be launched; on the device already,
    its copy does nothing."""
    if not samples or not all('gt_label' in s for s in samples):
        return
    labels = [s.gt_label for s in samples]
    if all(_on(x.device, device) for x in labels):
        return  # e.g. the same batch prepared again
    moved = upload(torch.cat(labels), device, labels[0].dtype)
    for s, label in zip(samples, moved.split([len(x) for x in labels])):
        s.set_gt_label(label)


class EncodedCropMixin:
    """Decoding, cropping and the recorded augmentations of a
    ``pseudo_collate`` batch of
    :class:`~ecdl_mm.datasets.transforms.LoadEncodedRandomResizedCrop`
    samples, on the model's device, before a data preprocessor's own
    ``forward``.

    ``inputs`` is a list whose items are either a JPEG's bytes (1-D uint8;
    its sample's ``crop_bbox`` and ``img_shape`` give the box and the output
    size) or a crop the loader finished on the CPU (``(3, h, w)``). The
    encoded ones are decoded in one call (nvJPEG on a GPU, libjpeg-turbo on
    a CPU), each box is cut from the full-resolution image and resized with
    ``interpolation`` / ``backend`` as ``RandomResizedCrop`` does it
    (Pillow's two antialiased passes, each rounded to uint8 levels, or
    OpenCV's single pass; :func:`ecdl_mm.utils.tensor_resize.resize_levels`),
    in the loaders' BGR channel order. Samples that carry
    ``device_augments`` (:class:`~ecdl_mm.datasets.transforms.DeviceAugment`)
    then get their recorded flips, RandAugment ops and erasing
    (:func:`~ecdl_mm.models.data_preprocessors.augment_records.apply_device_augments`).
    A stacked tensor (``default_collate``) passes straight to the parent.

    Args:
        interpolation (str): 'bilinear', 'bicubic' or 'nearest', as the
            loader's. Defaults to 'bilinear'.
        backend (str): 'pillow', 'torch' (the same: Pillow's filter) or
            'cv2', as the loader's. Defaults to 'cv2'.
        **kwargs: the parent data preprocessor's (``mean``, ``std``,
            ``to_rgb``, ...).
    """

    def __init__(self,
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2',
                 **kwargs) -> None:
        if interpolation not in RESIZE_MODES:
            raise ValueError(
                f'interpolation={interpolation!r} has no device version; '
                f'choose from {tuple(RESIZE_MODES)}')
        if backend not in ('cv2', 'pillow', 'torch'):
            raise ValueError(
                f"backend={backend!r}: choose 'cv2', 'pillow' or 'torch'")
        super().__init__(**kwargs)
        # 'torch' (the loader's Pillow filter computed by torch) is how
        # 'pillow' runs here already
        self.interpolation = interpolation
        self.backend = resize_family(backend)
        self._warned_cpu = False

    def decode_crops(self, inputs: Sequence[torch.Tensor],
                     samples: Sequence) -> torch.Tensor:
        """The ``(B, 3, h, w)`` float batch at uint8 levels, BGR, on this
        preprocessor's device: decoded, cropped and resized, then augmented
        as the samples' ``device_augments`` say."""
        device = self.device
        enc = [i for i, x in enumerate(inputs) if x.dim() == 1]
        if enc and device.type == 'cpu' and not self._warned_cpu:
            self._warned_cpu = True
            warnings.warn(
                f'{type(self).__name__} runs on the CPU: every training '
                'image is decoded at full size in the main process, one after '
                'the other. On a CPU the default configs (decoding in the '
                'loader workers, at a reduced scale) are faster; the '
                '-gpu-decode / -gpu-augment configs are for GPU training.')
        for key in ('crop_bbox', 'img_shape'):
            if any(key not in samples[i] for i in enc):
                raise KeyError(
                    f'{type(self).__name__}: the samples carry no '
                    f"'{key}'; add it to PackInputs(meta_keys=...) after "
                    'LoadEncodedRandomResizedCrop')
        decoded = _decode_batch([inputs[i] for i in enc],
                                [samples[i].get('img_path', '?')
                                 for i in enc], device) if enc else []
        full = dict(zip(enc, decoded))
        out = []
        for i, x in enumerate(inputs):
            if i not in full:  # finished by the loader
                out.append(upload(x, device))
                continue
            x0, y0, x1, y1 = samples[i].crop_bbox
            h, w = samples[i].img_shape[:2]
            crop = full[i][:, y0:y1, x0:x1].flip(0)[None].float()
            out.append(
                resize_levels(crop, (h, w), self.interpolation,
                              self.backend)[0])
        batch = torch.stack(out)
        if any(s.get('device_augments') for s in samples):
            batch = apply_device_augments(
                batch, [s.get('device_augments') for s in samples])
        return batch

    def prepare_batch(self, data: dict) -> dict:
        """The batch with its ``inputs`` decoded, cropped and augmented on
        this preprocessor's device and its labels moved there: what
        ``forward`` does before the parent's normalisation.
        :class:`~ecdl_mm.engine.DevicePrefetchTrainLoop` calls it one batch
        ahead; a prepared batch (a stacked tensor) passes unchanged."""
        inputs = data['inputs']
        if not isinstance(inputs, (list, tuple)):
            return data
        _labels_to(data.get('data_samples'), self.device)
        # exact uint8 levels whatever AMP context the step runs in
        with torch.autocast(self.device.type, enabled=False):
            inputs = self.decode_crops(inputs, data['data_samples'])
        return dict(data, inputs=inputs)

    def forward(self, data: dict, training: bool = False) -> dict:
        return super().forward(self.prepare_batch(data), training)


@MODELS.register_module()
class EncodedCropDataPreprocessor(EncodedCropMixin, SelfSupDataPreprocessor):
    """mmpretrain's ``SelfSupDataPreprocessor`` after decoding and cropping
    the batch on the model's device (:class:`EncodedCropMixin`); the stage-2
    ``-gpu-decode`` config's."""


@MODELS.register_module()
class EncodedCropClsDataPreprocessor(EncodedCropMixin, ClsDataPreprocessor):
    """mmpretrain's ``ClsDataPreprocessor`` after decoding, cropping and
    augmenting the batch on the model's device (:class:`EncodedCropMixin`);
    the stage-3 ``-gpu-augment`` config's."""

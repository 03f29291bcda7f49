# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Training crops decoded on the GPU: the loader keeps the JPEG's bytes and
draws the crop box; the model's data preprocessor decodes the batch."""
from typing import Optional

import torch
from mmpretrain.registry import TRANSFORMS

from .load_random_resized_crop import LoadRandomResizedCrop, _Shape
from .load_resized_image import (jpeg_truncated, read_image_bytes,
                                 read_jpeg_info)


@TRANSFORMS.register_module()
class LoadEncodedRandomResizedCrop(LoadRandomResizedCrop):
    """:class:`LoadRandomResizedCrop` with the decoding left to the GPU.

    For a colour JPEG that decodes as stored, the loader does what costs
    nothing: it reads the file, draws the crop box from the size in the
    header with mmpretrain's ``RandomResizedCrop.rand_crop_params`` (the
    same random calls, so the same seed gives the same boxes as
    :class:`LoadRandomResizedCrop` and ``RandomResizedCrop``) and returns
    the file's bytes as a 1-D uint8 tensor in ``img``, the box in
    ``crop_bbox``. :class:`~ecdl_mm.models.EncodedCropDataPreprocessor`
    then decodes the whole batch in one nvJPEG call on the GPU, crops each
    box and resizes it to ``scale`` with the configured interpolation (the
    CPU transforms' rounding), before the normalisation.

    Any other file (PNG, an EXIF-rotated or truncated JPEG, another
    ``color_type``) is loaded and cropped here by
    :class:`LoadRandomResizedCrop`, and joins the batch as a finished crop.

    Use it with ``PackInputs(meta_keys=(..., 'crop_bbox'))``,
    ``collate_fn=dict(type='pseudo_collate')`` (the byte strings differ in
    length) and the data preprocessor named above; the stage-2 config
    ``ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi-gpu-decode.py`` has all
    three. The arguments are :class:`LoadRandomResizedCrop`'s.
    """

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            img_bytes = read_image_bytes(self, filename)
        except Exception:
            if self.ignore_empty:
                return None
            raise
        header = read_jpeg_info(img_bytes) \
            if self.color_type == 'color' else None
        if header is None or not header[3] or self.to_float32 \
                or jpeg_truncated(img_bytes):
            return super().transform(results)  # decoded here, same draws
        h, w = header[:2]
        top, left, box_h, box_w = self.crop.rand_crop_params(_Shape(h, w))
        results['img'] = torch.frombuffer(
            bytearray(img_bytes), dtype=torch.uint8)
        results['img_shape'] = tuple(self.crop.scale) + (3, )
        results['ori_shape'] = (h, w)
        results['crop_bbox'] = (left, top, left + box_w, top + box_h)
        results['decode_factor'] = 0  # on the device
        return results

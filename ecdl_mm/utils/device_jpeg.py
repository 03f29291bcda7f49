# Copyright (c) ecdl_mm contributors. All rights reserved.
"""JPEGs decoded in one call on a device (nvJPEG through torchvision on a
GPU, libjpeg-turbo on a CPU): shared by the still-image inference
(``decode='device'``) and the training crops decoded on the GPU."""
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch


def decode_jpegs(
    datas: Sequence[torch.Tensor], device: torch.device
) -> Tuple[List[Optional[torch.Tensor]], Dict[int, str]]:
    """Decode JPEG bytes (1-D uint8 tensors) to ``(3, H, W)`` uint8 RGB
    tensors on ``device``: one batched call; when it fails, each file alone,
    to find the ones the decoder refuses.

    Returns:
        tuple: The images, None for a refused file, and for each refused
        file (by position) the first line of the decoder's message.
    """
    from torchvision.io import ImageReadMode, decode_jpeg
    with warnings.catch_warnings():
        # torchvision 0.29 marks its decoders deprecated (torchcodec)
        warnings.simplefilter('ignore')
        try:
            return decode_jpeg(
                list(datas), mode=ImageReadMode.RGB, device=device), {}
        except RuntimeError:
            pass
        out: List[Optional[torch.Tensor]] = []
        errors: Dict[int, str] = {}
        for k, data in enumerate(datas):
            try:
                out.append(
                    decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
            except RuntimeError as e:
                out.append(None)
                errors[k] = str(e).strip().splitlines()[0]
        return out, errors

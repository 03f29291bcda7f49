# Copyright (c) ecdl_mm contributors. All rights reserved.
"""JPEGs decoded in one call on a device (nvJPEG through torchvision on a
GPU, libjpeg-turbo on a CPU): shared by the still-image inference
(``decode='device'``) and the training crops decoded on the GPU."""
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch

# torchvision 0.29 marks its decoders deprecated (torchcodec). Filtered once
# here: ``warnings.catch_warnings`` around each call is not thread-safe, and
# the training decode runs in a prefetch thread beside the training loop.
warnings.filterwarnings(
    'ignore',
    message='The image decoding and encoding capabilities of TorchVision',
    category=DeprecationWarning)

#: Messages of device failures, which are not a file's fault (a refused
#: file's message names torchvision's source file, ``.../cuda/...`` on a
#: GPU, so 'cuda' alone says nothing).
_DEVICE_ERRORS = ('CUDA error', 'cudaError', 'Failed to synchronize',
                  'out of memory')


def _refused(err: RuntimeError) -> bool:
    """Whether the decoder refused the input (rather than the device
    failing: out of memory, a CUDA error), which must reach the caller."""
    if isinstance(err, torch.OutOfMemoryError):
        return False
    return not any(s in str(err) for s in _DEVICE_ERRORS)


def decode_jpegs(
    datas: Sequence[torch.Tensor], device: torch.device
) -> Tuple[List[Optional[torch.Tensor]], Dict[int, str]]:
    """Decode JPEG bytes (1-D uint8 tensors) to ``(3, H, W)`` uint8 RGB
    tensors on ``device``: one batched call; when it fails, each file alone,
    to find the ones the decoder refuses.

    On a GPU the current stream is drained first: torchvision allocates the
    images on that stream but nvJPEG writes them on its own, without waiting
    for it (pytorch/vision#9606), so a block freed by kernels still queued
    there could be overwritten.

    Returns:
        tuple: The images, None for a refused file, and for each refused
        file (by position) the first line of the decoder's message.

    Raises:
        RuntimeError: A device failure (out of memory, a CUDA error), not
            taken for a refused file.
    """
    from torchvision.io import ImageReadMode, decode_jpeg
    device = torch.device(device)
    if device.type == 'cuda':
        if device.index is None:
            # one device name for torchvision's cached nvJPEG decoder,
            # which is rebuilt (and the old one kept) when the name changes
            device = torch.device('cuda', torch.cuda.current_device())
        torch.cuda.current_stream(device).synchronize()
    try:
        return decode_jpeg(
            list(datas), mode=ImageReadMode.RGB, device=device), {}
    except RuntimeError as e:
        if not _refused(e):
            raise
    out: List[Optional[torch.Tensor]] = []
    errors: Dict[int, str] = {}
    for k, data in enumerate(datas):
        try:
            out.append(
                decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
        except RuntimeError as e:
            if not _refused(e):
                raise
            out.append(None)
            errors[k] = str(e).strip().splitlines()[0]
    return out, errors

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""JPEGs decoded in one call on a device (nvJPEG through torchvision on a
GPU, libjpeg-turbo on a CPU): shared by the still-image inference
(``decode='device'``) and the training crops decoded on the GPU."""
import re
from typing import Dict, List, Optional, Sequence, Tuple

import torch

#: Messages of device failures, which are not a file's fault (a refused
#: file's message names torchvision's source file, ``.../cuda/...`` on a
#: GPU, so 'cuda' alone says nothing): CUDA errors, torchvision's stream
#: calls, nvJPEG's set-up, and nvJPEG statuses 1 (not initialised), 5
#: (allocator failure: nvJPEG allocates outside PyTorch's cache), 6
#: (execution failed), 7 (architecture mismatch) and 8 (internal error).
#: Statuses 2, 3, 4, 9 and 10 (invalid, bad or unsupported JPEG,
#: incomplete bitstream) are the file's.
_DEVICE_ERRORS = re.compile(
    r'CUDA error|cudaError|Failed to synchronize|out of memory|'
    r'cudaEvent|cudaStreamWaitEvent|initialize nvjpeg|'
    r'not compiled with nvJPEG|create pinned buffer|'
    r'Failed to [^:\n]+: [15678]\b', re.IGNORECASE)


def _refused(err: RuntimeError) -> bool:
    """Whether the decoder refused the input (rather than the device
    failing: out of memory, a CUDA error), which must reach the caller."""
    if isinstance(err, torch.OutOfMemoryError):
        return False
    return _DEVICE_ERRORS.search(str(err)) is None


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

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Host values to a device without stalling it."""
import numpy as np
import torch


def upload(data, device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``data`` (numbers, nested lists, an array or a CPU tensor) as a
    ``dtype`` tensor on ``device``.

    On a GPU the values go through page-locked memory with
    ``non_blocking=True``: a plain ``torch.tensor(..., device='cuda')`` or
    ``.to('cuda')`` waits for the whole stream to finish after its copy
    (``cudaStreamSynchronize``), so a data preprocessor calling it per op
    would drain the GPU's queue each time. PyTorch's pinned-memory cache
    keeps the buffer alive until the copy has run. A tensor already on a
    device is moved (or cast) without pinning: in stream order to a
    device, with a finished copy to the CPU.
    """
    t = data if isinstance(data, torch.Tensor) else torch.from_numpy(
        np.ascontiguousarray(np.asarray(data)))
    device = torch.device(device)
    if t.device.type != 'cpu':
        # in stream order on the device; to the host, a finished copy
        return t.to(device, dtype, non_blocking=device.type != 'cpu')
    t = t.to(dtype)
    if device.type != 'cuda':
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)

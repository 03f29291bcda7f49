# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Count the values a block of torch code reads back from tensors to the
host (``.item()``, ``int(t)``, ``bool(t)``: ``aten._local_scalar_dense``).
On a GPU each is a sync that stalls the host until the device catches up;
on a CPU the same reads happen, so a CPU test sees them."""
import torch
from torch.utils._python_dispatch import TorchDispatchMode


class HostReads(TorchDispatchMode):
    """``with HostReads() as reads: ...`` then ``reads.count``."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))

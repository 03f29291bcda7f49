# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Count the places a block of torch code makes the host wait for the
device: values read back (``.item()``, ``int(t)``, ``bool(t)``:
``aten._local_scalar_dense``) and ops whose output size depends on the
values (``nonzero``, ``masked_select``, indexing or assigning with a boolean
mask, which calls ``nonzero``; ``unique``, ``bincount``,
``repeat_interleave`` without ``output_size``): on a GPU each copies a
count to the host first. On a CPU the same ops run, so a CPU test sees
them."""
import torch
from torch.utils._python_dispatch import TorchDispatchMode

_DATA_SHAPED = {
    torch.ops.aten.nonzero.default,
    torch.ops.aten.masked_select.default,
    torch.ops.aten._unique2.default,
    torch.ops.aten.unique_dim.default,
    torch.ops.aten.unique_consecutive.default,
    torch.ops.aten.bincount.default,  # sized from the largest value
}
_BOOL_INDEXED = {
    torch.ops.aten.index.Tensor,
    torch.ops.aten.index_put.default,
    torch.ops.aten.index_put_.default,
    torch.ops.aten._index_put_impl_.default,
}


def _bool_index(args) -> bool:
    indices = args[1] if len(args) > 1 else ()
    return any(
        isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices)


class HostReads(TorchDispatchMode):
    """``with HostReads() as reads: ...`` then ``reads.count`` (and
    ``reads.ops``, their names in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default or \
                func in _DATA_SHAPED or \
                (func in _BOOL_INDEXED and _bool_index(args)) or \
                (func is torch.ops.aten.repeat_interleave.Tensor
                 and (kwargs or {}).get('output_size') is None):
            self.count += 1
            self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The masked tokens of an MAE batch, taken without a host sync.

Indexing with a boolean mask (``x[mask]``) sizes its output from the mask's
values: on a GPU that copies a count to the host and waits for the device,
mid-step. Every row of an MAE mask hides the same, host-known number of
tokens, so their positions come from a sort instead, and a gather takes
them, in ascending token order, as ``x[mask].reshape(B, num, ...)`` does.
"""
import torch


def masked_ids(mask: torch.Tensor, num: int) -> torch.Tensor:
    """Positions of the ``True`` entries of each row of ``mask`` (``(B, N)``
    bool), ascending: ``(B, num)`` int64.

    Every row must hold exactly ``num`` True values (not checked: that would
    read the mask back); a row with fewer gets positions of False values.
    """
    order = torch.argsort(
        mask.to(torch.uint8), dim=1, descending=True, stable=True)
    return order[:, :num]


def expand_ids(ids: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``ids`` ``(B, num)`` expanded over the trailing dims of ``x``
    ``(B, N, ...)``, as the index of a ``gather`` / ``scatter`` along 1."""
    shape = ids.shape + (1, ) * (x.dim() - 2)
    return ids.view(shape).expand(*ids.shape, *x.shape[2:])


def take_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The tokens ``ids`` of ``x`` ``(B, N, ...)``: ``(B, num, ...)``."""
    return torch.gather(x, 1, expand_ids(ids, x))

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Stochastic depth with one full-size multiplication."""
import torch
import torch.nn as nn


class DropPath(nn.Module):
    """Drop the residual branch of whole samples (stochastic depth).

    The same mask as mmcv's ``DropPath`` on the same random stream (one
    ``torch.rand`` of shape ``(B, 1, ...)`` per call, a sample kept where
    ``floor(keep + u) == 1``) and the same expectation, in timm's form: the
    ``(B, 1, ...)`` mask is divided by the keep probability and the branch
    multiplied by it once. mmcv's ``x.div(keep) * mask`` runs two
    full-size kernels forward and two backward per branch; on the GPU that
    was ~3 ms of a 35 ms ViT-B/16 training step at batch 64
    (``benchmarks/gpu_probe.py``). Results differ from mmcv's by the
    rounding of ``x / keep`` against ``x * (1 / keep)``.

    Args:
        drop_prob (float): Probability of dropping a sample's branch.
            Defaults to 0.1.
    """

    def __init__(self, drop_prob: float = 0.1) -> None:
        super().__init__()
        if not 0 <= drop_prob < 1:
            raise ValueError(f'drop_prob={drop_prob} must be in [0, 1)')
        self.drop_prob = float(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0. or not self.training:
            return x
        keep = 1 - self.drop_prob
        shape = (x.shape[0], ) + (1, ) * (x.ndim - 1)
        mask = (keep + torch.rand(shape, dtype=x.dtype,
                                  device=x.device)).floor_().div_(keep)
        return x * mask

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'

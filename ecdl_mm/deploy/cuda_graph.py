# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A classifier in fp16 / bf16 replayed as CUDA graphs (the GPU backend)."""
import copy
from typing import Dict

import torch
import torch.nn as nn

#: Precisions of the inference backends (``--precision``).
PRECISIONS = ('fp32', 'fp16', 'bf16')
DTYPES = dict(fp32=torch.float32, fp16=torch.float16, bf16=torch.bfloat16)
#: Largest |probability difference| from eager fp32 accepted at load time
#: for each precision (ViT-B/16 with random weights differs by ~1e-3 in
#: fp16 and ~1e-2 in bf16); the top class must be the same too.
PRECISION_ATOL = dict(fp32=1e-4, fp16=2e-2, bf16=5e-2)


class GPUOnlyError(ValueError):
    """A GPU-only backend or precision asked for on a machine or device
    without CUDA."""


def check_gpu_option(option: str, value: str, device: torch.device) -> None:
    """Raise :class:`GPUOnlyError` (one line naming ``option``) unless
    ``device`` is a CUDA device of this machine."""
    if device.type != 'cuda':
        raise GPUOnlyError(
            f'{option} {value} needs a CUDA device (--device cuda), not '
            f'{device}; on the CPU use --precision fp32 and the eager, '
            'torchscript, torchscript-int8 or onnx backend')
    if not torch.cuda.is_available():
        raise GPUOnlyError(f'{option} {value}: this machine has no CUDA '
                           'device (torch.cuda.is_available() is False)')


def default_precision(device: torch.device) -> str:
    """fp16 on a CUDA device (every CUDA GPU runs it), else fp32."""
    return 'fp16' if device.type == 'cuda' else 'fp32'


class CudaGraphRunner:
    """``wrapper`` cast to ``dtype`` and captured as one CUDA graph per
    input shape (at most ``max_graphs``; the oldest is dropped).

    Calling it copies the input into the graph's static buffer, replays the
    graph and returns a float32 copy of the probabilities.
    """

    def __init__(self,
                 wrapper: nn.Module,
                 dtype: torch.dtype,
                 device: torch.device,
                 max_graphs: int = 8) -> None:
        self.model = copy.deepcopy(wrapper).to(device, dtype).eval()
        self.dtype, self.device = dtype, device
        self.max_graphs = int(max_graphs)
        self.graphs: Dict[tuple, tuple] = {}

    def _capture(self, shape: tuple) -> tuple:
        static_in = torch.zeros(shape, device=self.device, dtype=self.dtype)
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream), torch.inference_mode():
            for _ in range(3):  # warm up kernels and allocator
                self.model(static_in)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            static_out = self.model(static_in)
        if len(self.graphs) >= self.max_graphs:
            self.graphs.pop(next(iter(self.graphs)))
        self.graphs[shape] = (graph, static_in, static_out)
        return self.graphs[shape]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(x.shape)
        entry = self.graphs.get(shape) or self._capture(shape)
        graph, static_in, static_out = entry
        static_in.copy_(x.to(self.device, non_blocking=True))
        graph.replay()
        return static_out.float().clone()


class CastRunner:
    """``wrapper`` cast to ``dtype``, run eagerly (``backend='eager'``
    with a low precision)."""

    def __init__(self, wrapper: nn.Module, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.model = copy.deepcopy(wrapper).to(device, dtype).eval()
        self.dtype = dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.dtype)).float()


def check_precision(name: str, fn, eager, example: torch.Tensor,
                    precision: str) -> float:
    """Compare a low-precision backend with eager fp32 on ``example``.

    Returns:
        float: The largest |probability difference|.

    Raises:
        TraceMismatchError: Above :data:`PRECISION_ATOL` or another top
            class on an image of ``example`` whose top two
            fp32 probabilities are more than ``2 * atol`` apart.
    """
    from .trace_check import TraceMismatchError
    with torch.inference_mode():
        ref = eager(example).detach().float()
        got = fn(example).detach().float()
    diff = float((got - ref).abs().max())
    atol = PRECISION_ATOL[precision]
    # the top class must agree where fp32 separates the top two classes by
    # more than the tolerance (a near tie may flip by rounding)
    top2 = ref.topk(min(2, ref.shape[1]), dim=1).values
    clear = (top2[:, 0] - top2[:, -1]) > 2 * atol
    same = got.argmax(1) == ref.argmax(1)
    if not diff <= atol or not bool(same[clear].all()):
        raise TraceMismatchError(
            f'{name} differs from eager fp32 on the example input: max '
            f'|prob diff| {diff:.3g} (atol {atol:g}), top classes '
            f'{got.argmax(1).tolist()} vs {ref.argmax(1).tolist()}; use '
            '--precision fp32')
    return diff

# Copyright (c) ecdl_mm contributors. All rights reserved.
import copy
import os.path as osp
import tempfile
from typing import Callable, Optional, Union

import torch
import torch.nn as nn

from .cuda_graph import (DTYPES, PRECISIONS, CastRunner, CudaGraphRunner,
                         check_gpu_option, check_precision, default_precision)
from .export_wrapper import ExportWrapper
from .onnx_export import ONNXRUNTIME_MISSING, export_onnx
from .quantization import quantize_int8
from .qv_bias_fusion import fuse_qv_bias
from .trace_check import check_exported, trace

BACKENDS = ('eager', 'torchscript', 'torchscript-int8', 'onnx', 'cuda-graph')
#: Backends that run on a CUDA device only.
GPU_BACKENDS = ('cuda-graph', )


class _Backend:
    """A probability function over normalised image batches."""

    def __init__(self,
                 name: str,
                 fn: Callable,
                 device: torch.device,
                 precision: str = 'fp32',
                 check_diff: float = 0.0):
        self.name = name
        self._fn = fn
        self.device = device
        self.precision = precision
        #: max ``|prob diff|`` from eager fp32 on the example at load time
        self.check_diff = check_diff

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self._fn(x)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.name!r}, device={self.device}'
                f', precision={self.precision!r})')


def _onnx_session(model: nn.Module, example: torch.Tensor, device):
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError(f"backend 'onnx': {ONNXRUNTIME_MISSING}") from err
    if device.type == 'cuda':
        providers = ['CUDAExecutionProvider']
        if providers[0] not in ort.get_available_providers():
            raise ValueError(
                "backend 'onnx' on cuda needs onnxruntime-gpu (this "
                'onnxruntime offers '
                f'{", ".join(ort.get_available_providers())})')
    elif device.type == 'cpu':
        providers = ['CPUExecutionProvider']
    else:
        raise ValueError(f"backend 'onnx' runs on cpu or cuda, not {device}")
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'model.onnx')
        export_onnx(model, example, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        # The session reads the file now; the folder can go afterwards.
        session = ort.InferenceSession(path, options, providers=providers)

    def run(x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().to('cpu', torch.float32).contiguous().numpy()
        (out, ) = session.run(None, {'images': arr})
        return torch.from_numpy(out).to(device)

    return run


def check_gpu_options(device: Union[str, torch.device],
                      backend: Optional[str] = None,
                      precision: Optional[str] = None) -> None:
    """Refuse a GPU-only ``backend`` (:data:`GPU_BACKENDS`) or precision
    (fp16, bf16) unless ``device`` is a CUDA device of this machine
    (:class:`GPUOnlyError`, one line naming the option)."""
    device = torch.device(device)
    if backend in GPU_BACKENDS:
        check_gpu_option('--backend', backend, device)
    if precision in PRECISIONS and precision != 'fp32':
        check_gpu_option('--precision', precision, device)


def load_backend(model: nn.Module,
                 backend: str,
                 example_input: torch.Tensor,
                 device: Union[str, torch.device] = 'cpu',
                 precision: Optional[str] = None) -> Callable:
    """A classifier as a probability function run by one backend.

    The returned callable takes what the model's data preprocessor gives
    (images ``(B, 3, H, W)``, channel order converted and normalised) and
    returns the class probabilities ``(B, num_classes)`` on ``device``,
    under ``torch.inference_mode``. Its output is checked against the eager
    model on ``example_input`` (the int8 backend against eager int8).

    Backends:

    - ``'eager'``: the model itself (moved to ``device``; not copied);
    - ``'torchscript'``: traced on ``example_input`` after the q/v biases
      are fused (:func:`fuse_qv_bias`), on a copy;
    - ``'torchscript-int8'``: the same after int8 dynamic quantisation of
      the linear layers (:func:`quantize_int8`); CPU only;
    - ``'onnx'``: exported to ONNX (dynamic batch and size) and run by
      onnxruntime, which must be installed;
    - ``'cuda-graph'``: CUDA only: a copy cast to ``precision`` (default
      fp16), captured as a CUDA graph per input shape and replayed.

    A ``precision`` other than fp32 (``'fp16'``, ``'bf16'``) runs on CUDA
    only, with ``'eager'`` (a cast copy) or ``'cuda-graph'``, and is checked
    against eager fp32 on ``example_input`` at load time
    (:data:`~ecdl_mm.deploy.cuda_graph.PRECISION_ATOL`, same top class).

    Args:
        model (nn.Module): An mmpretrain classifier (``forward(x,
            mode='tensor')`` gives logits).
        backend (str): One of ``BACKENDS``.
        example_input (torch.Tensor): A normalised batch ``(B, 3, H, W)`` at
            the size the model will see; traced on and checked against.
        device (str | torch.device): Where the model runs. Defaults to
            'cpu'.
        precision (str, optional): One of ``PRECISIONS``. Defaults to None:
            fp16 for ``'cuda-graph'``, else fp32.

    Returns:
        callable: ``f(x: Tensor) -> Tensor``, with attributes ``name`` and
        ``device``, ``precision`` and ``check_diff`` (max ``|prob diff|`` from
        eager fp32 on the example, low precisions).

    Raises:
        ValueError: For an unknown backend, or int8 off the CPU.
        GPUOnlyError: For ``'cuda-graph'`` or fp16/bf16 without a CUDA
            device (one line naming ``--backend`` / ``--precision``).
        ImportError: For ``'onnx'`` without onnxruntime.
        TraceMismatchError: If the traced or exported model disagrees with
            the eager one on ``example_input``.
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend={backend!r} must be one of {BACKENDS}')
    if not (isinstance(example_input, torch.Tensor)
            and example_input.dim() == 4 and example_input.shape[1] == 3):
        raise ValueError('example_input must be a (B, 3, H, W) tensor, got '
                         f'{getattr(example_input, "shape", example_input)}')
    device = torch.device(device)
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(
            f'precision={precision!r} must be one of {PRECISIONS}')
    check_gpu_options(device, backend, precision)
    if backend in GPU_BACKENDS:
        precision = precision or default_precision(device)
    precision = precision or 'fp32'
    if precision != 'fp32':
        if backend not in ('eager', ) + GPU_BACKENDS:
            raise ValueError(f'--precision {precision} runs with the eager '
                             f"or cuda-graph backend, not {backend!r}")
    if backend == 'torchscript-int8' and device.type != 'cpu':
        raise ValueError("backend 'torchscript-int8' runs on the cpu only "
                         f'(int8 dynamic quantisation), not {device}')
    model.eval()
    if backend == 'eager' and precision == 'fp32':
        wrapper = ExportWrapper(model, normalize=False).to(device).eval()
        return _Backend(backend, wrapper, device)
    if backend in ('eager', ) + GPU_BACKENDS:
        eager = ExportWrapper(model, normalize=False).to(device).eval()
        wrapper = copy.deepcopy(eager)
        fuse_qv_bias(wrapper)
        runner = CastRunner if backend == 'eager' else CudaGraphRunner
        fn = runner(wrapper, DTYPES[precision], device)
        example = example_input.to(device, torch.float32)
        diff = check_precision(f'backend {backend!r} {precision}', fn, eager,
                               example, precision)
        return _Backend(backend, fn, device, precision, diff)

    wrapper = copy.deepcopy(ExportWrapper(model, normalize=False)).eval()
    fuse_qv_bias(wrapper)
    if backend == 'onnx':
        # exported and checked on the CPU; onnxruntime runs it on device
        wrapper, example = wrapper.cpu(), example_input.detach().to(
            'cpu', torch.float32)
        fn = _onnx_session(wrapper, example, device)
        check_exported(f'backend {backend!r}', lambda x: fn(x).cpu(), wrapper,
                       [example], 1e-4, tuple(example.shape))
        return _Backend(backend, fn, device)
    wrapper = wrapper.to(device)
    if backend == 'torchscript-int8':
        wrapper = quantize_int8(wrapper)
    example = example_input.to(device, torch.float32)
    fn = trace(wrapper, example)
    # The int8 model is checked against eager int8: the file must compute
    # what was quantised (quantisation error is reported elsewhere).
    check_exported(f'backend {backend!r}', fn, wrapper, [example], 1e-4,
                   tuple(example.shape))
    return _Backend(backend, fn, device)


def load_model_backend(model: nn.Module,
                       backend: str,
                       input_size,
                       precision: Optional[str] = None) -> Callable:
    """:func:`load_backend` for the inferencers: on the model's device,
    traced on and checked against one seeded random image of
    ``input_size`` ``(H, W)`` (the same example every time, so that a
    backend's load-time check is reproducible)."""
    device = next(model.parameters()).device
    example = torch.randn(
        1, 3, *input_size,
        generator=torch.Generator().manual_seed(0)).to(device)
    return load_backend(model, backend, example, device, precision)

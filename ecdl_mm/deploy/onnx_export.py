# Copyright (c) ecdl_mm contributors. All rights reserved.
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ._warnings import quiet_deprecations

ONNXRUNTIME_MISSING = ('onnxruntime is not installed: `pip install '
                       'onnxruntime` (see requirements/tests.txt) to run '
                       'ONNX models')


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(module: nn.Module,
                example: torch.Tensor,
                path: str,
                opset: int = 17) -> None:
    """Export ``module`` to ONNX with a dynamic batch and image size.

    Uses torch's TorchScript-based exporter (it needs no extra package). The
    graph has one input ``images`` and one output ``probs``.
    """
    with quiet_deprecations(), torch.no_grad():
        torch.onnx.export(
            module, (example, ),
            path,
            input_names=['images'],
            output_names=['probs'],
            dynamic_axes={
                'images': {
                    0: 'batch',
                    2: 'height',
                    3: 'width'
                },
                'probs': {
                    0: 'batch'
                }
            },
            opset_version=opset,
            dynamo=False)


def onnx_runner(path: str, runtime: str = 'auto') -> Callable:
    """A callable running the ONNX file ``path`` on a tensor.

    Args:
        path (str): An ONNX file with input ``images``.
        runtime (str): 'onnxruntime', 'reference' (onnx's pure Python
            ``ReferenceEvaluator``: slow, for checks) or 'auto'
            (onnxruntime when installed). Defaults to 'auto'.

    Returns:
        callable: ``f(x: Tensor) -> Tensor``, on the CPU.

    Raises:
        ImportError: If ``runtime='onnxruntime'`` and it is not installed.
    """
    if runtime not in ('auto', 'onnxruntime', 'reference'):
        raise ValueError(f'runtime={runtime!r} must be auto, onnxruntime or '
                         'reference')
    if runtime == 'auto':
        runtime = 'onnxruntime' if onnxruntime_available() else 'reference'
    if runtime == 'onnxruntime':
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError(ONNXRUNTIME_MISSING) from err
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            path, options, providers=['CPUExecutionProvider'])
    else:
        import onnx
        from onnx.reference import ReferenceEvaluator
        session = ReferenceEvaluator(onnx.load(path))

    def run(x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().cpu().float().numpy())
        (out, ) = session.run(None, {'images': arr})
        return torch.from_numpy(np.asarray(out))

    run.runtime = runtime
    return run

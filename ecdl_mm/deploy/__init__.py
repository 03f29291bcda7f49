# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Deployment: models as single tensor functions (TorchScript, int8, ONNX).

:func:`export` writes files for deployment (``tools/deploy/export.py`` is
its CLI); :func:`load_backend` gives the same backends in memory, for the
inferencers.
"""
from ._warnings import quiet_deprecations
from .backend import (BACKENDS, GPU_BACKENDS, check_gpu_options, load_backend,
                      load_model_backend)
from .cuda_graph import PRECISIONS, GPUOnlyError
from .evaluation import evaluate, lesion_batches
from .export_wrapper import ExportWrapper
from .exporter import FORMATS, build_model, classes_of, export, input_size_of
from .onnx_export import export_onnx, onnx_runner, onnxruntime_available
from .quantization import quantize_int8
from .qv_bias_fusion import fuse_qv_bias
from .trace_check import TraceMismatchError, check_exported, trace

__all__ = [
    'BACKENDS', 'FORMATS', 'GPU_BACKENDS', 'GPUOnlyError', 'PRECISIONS',
    'ExportWrapper', 'TraceMismatchError', 'build_model', 'check_exported',
    'check_gpu_options', 'classes_of', 'evaluate', 'export', 'export_onnx',
    'fuse_qv_bias', 'input_size_of', 'lesion_batches', 'load_backend',
    'load_model_backend', 'onnx_runner', 'onnxruntime_available',
    'quantize_int8', 'quiet_deprecations', 'trace'
]

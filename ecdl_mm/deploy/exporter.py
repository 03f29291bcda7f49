# Copyright (c) ecdl_mm contributors. All rights reserved.
import copy
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..models.builder import load_model
from ._warnings import quiet_deprecations
from .export_wrapper import ExportWrapper
from .onnx_export import export_onnx, onnx_runner
from .quantization import quantize_int8
from .qv_bias_fusion import fuse_qv_bias
from .trace_check import checked_or_removed, trace

FORMATS = ('torchscript', 'onnx')


def build_model(config, checkpoint: Optional[str] = None, cfg_options=None):
    """The classifier of ``config`` with ``checkpoint`` loaded, in eval mode.

    Args:
        config (str | Config): A config file or object.
        checkpoint (str, optional): Loaded through
            :func:`ecdl_mm.utils.load_model_checkpoint` (every weight of the
            model must be in it; its ``dataset_meta`` is kept on the model).
            None leaves random weights (speed checks only).
        cfg_options (dict, optional): Merged into the config.

    Returns:
        tuple: ``(model, cfg)``.
    """
    model = load_model(
        config, checkpoint or None, cfg_options=cfg_options, device='cpu')
    return model, model._config


def classes_of(model: nn.Module) -> list:
    """Class names from the model's dataset meta (the checkpoint's), else
    ``[]``."""
    meta = getattr(model, 'dataset_meta', None) or getattr(
        model, '_dataset_meta', None) or {}
    return list(meta.get('classes') or [])


def input_size_of(cfg) -> Tuple[int, int]:
    """(H, W) the config's test pipeline produces (its last crop/resize)."""
    size = None
    for step in cfg.test_dataloader.dataset.pipeline:
        for key in ('crop_size', 'scale'):
            if key in step and step['type'] in ('CenterCrop', 'Resize',
                                                'ResizeEdge',
                                                'LoadResizedImage'):
                size = step[key]
                break
    if size is None:
        raise ValueError('cannot infer the input size from the test '
                         'pipeline: pass --input-size')
    return (size, size) if isinstance(size, int) else tuple(size)[::-1]


def export(model: nn.Module,
           out_dir: str,
           input_size: Tuple[int, int] = (224, 224),
           formats: Sequence[str] = FORMATS,
           int8: bool = True,
           cfg=None,
           opset: int = 17,
           check_size: Optional[Tuple[int, int]] = None,
           atol: float = 1e-4) -> dict:
    """Export ``model`` into ``out_dir`` and check the files against it.

    Writes ``model_fp32.ts``, ``model_int8.ts`` (TorchScript), and
    ``model_fp32.onnx`` as asked, and ``deploy.json``. Every file is one
    function: ``(B, 3, H, W)`` float32 BGR 0-255 images -> probabilities
    ``(B, num_classes)``, normalisation inside (see :class:`ExportWrapper`).
    Each file is loaded back and compared with the eager model on another
    batch size and another image size.

    Args:
        model (nn.Module): An mmpretrain classifier in eval mode.
        out_dir (str): Output folder.
        input_size (tuple): ``(H, W)`` traced. Defaults to (224, 224).
        formats (Sequence[str]): 'torchscript' and/or 'onnx'.
        int8 (bool): Also an int8 dynamically quantised TorchScript file.
            Defaults to True.
        cfg (Config, optional): Its test pipeline goes into ``deploy.json``.
        opset (int): ONNX opset. Defaults to 17.
        check_size (tuple, optional): ``(H, W)`` of the second-size check.
            Defaults to ``input_size`` + 32 on each side.
        atol (float): Largest absolute probability difference an exported
            file may show against the eager model. Defaults to 1e-4.

    Returns:
        dict: What was written and the deviations measured (also saved as
        ``deploy.json``).

    Raises:
        TraceMismatchError: If an exported file differs from the eager
            model on a check input (the file is deleted).
    """
    for f in formats:
        if f not in FORMATS:
            raise ValueError(f"format '{f}' is not supported, choose "
                             "'torchscript' or 'onnx'")
    os.makedirs(out_dir, exist_ok=True)
    reference = ExportWrapper(model).eval()
    # fuse on a copy: the caller's model stays as it was
    deploy_model = copy.deepcopy(reference)
    fused = fuse_qv_bias(deploy_model)

    h, w = input_size
    gen = torch.Generator().manual_seed(0)
    example = torch.rand(2, 3, h, w, generator=gen) * 255
    check = torch.rand(3, 3, h, w, generator=gen) * 255  # other batch size
    h2, w2 = check_size or (h + 32, w + 32)
    check_inputs = [check, torch.rand(2, 3, h2, w2, generator=gen) * 255]
    with torch.inference_mode():
        ref_out = reference(check)
        for x in check_inputs[1:]:
            try:
                reference(x)
            except Exception as err:
                raise ValueError(
                    f'the eager model fails on the check input shape '
                    f'{tuple(x.shape)}: {err}. Pass check_size (--check-size '
                    'H W) that the model accepts.') from err
    traced_shape = tuple(example.shape)

    info = OrderedDict(
        input=dict(
            shape=['B', 3, h, w],
            dtype='float32',
            channel_order='BGR',
            value_range=[0, 255],
            note='normalisation and BGR->RGB happen inside the model'),
        output=dict(shape=['B', 'num_classes'], meaning='probabilities'),
        classes=classes_of(model),
        qv_bias_layers_fused=fused,
        torch=torch.__version__,
        quantized_engine=torch.backends.quantized.engine,
        files={},
        max_abs_diff={},
        max_abs_diff_meaning=(
            'largest |probability - eager fp32 probability| on a check '
            f'batch of {check.shape[0]} random images at the export size'),
        trace_check=dict(
            atol=atol,
            meaning=('largest |probability - probability of the eager model '
                     'the file was made from| (int8 file: eager int8), per '
                     'check input shape'),
            max_abs_diff={}))
    if cfg is not None:
        info['test_pipeline'] = cfg.test_dataloader.dataset.pipeline
    with torch.inference_mode():
        info['max_abs_diff']['fused_eager'] = float(
            (deploy_model(check) - ref_out).abs().max())

    if 'torchscript' in formats:
        ts = trace(deploy_model, example)
        path = osp.join(out_dir, 'model_fp32.ts')
        ts.save(path)
        with quiet_deprecations():
            loaded = torch.jit.load(path)
        info['trace_check']['max_abs_diff']['torchscript_fp32'] = \
            checked_or_removed(path, loaded, deploy_model, check_inputs,
                               atol, traced_shape)
        with torch.inference_mode():
            info['max_abs_diff']['torchscript_fp32'] = float(
                (loaded(check) - ref_out).abs().max())
        info['files']['torchscript_fp32'] = path
    if int8:
        q = quantize_int8(deploy_model)
        with torch.inference_mode():
            info['max_abs_diff']['int8_eager'] = float(
                (q(check) - ref_out).abs().max())
        if 'torchscript' in formats:
            path = osp.join(out_dir, 'model_int8.ts')
            trace(q, example).save(path)
            with quiet_deprecations():
                loaded = torch.jit.load(path)
            info['trace_check']['max_abs_diff']['torchscript_int8'] = \
                checked_or_removed(path, loaded, q, check_inputs, atol,
                                   traced_shape)
            with torch.inference_mode():
                info['max_abs_diff']['torchscript_int8'] = float(
                    (loaded(check) - ref_out).abs().max())
            info['files']['torchscript_int8'] = path
    if 'onnx' in formats:
        path = osp.join(out_dir, 'model_fp32.onnx')
        export_onnx(deploy_model, example, path, opset=opset)
        import onnx
        onnx.checker.check_model(onnx.load(path))
        runner = onnx_runner(path)
        info['trace_check']['max_abs_diff']['onnx_fp32'] = \
            checked_or_removed(path, runner, deploy_model, check_inputs,
                               atol, traced_shape)
        with torch.inference_mode():
            info['max_abs_diff']['onnx_fp32'] = float(
                (runner(check) - ref_out).abs().max())
        info['files']['onnx_fp32'] = path
        info['onnx_opset'] = opset
        info['onnx_check_runtime'] = runner.runtime
    with open(osp.join(out_dir, 'deploy.json'), 'w') as f:
        json.dump(info, f, indent=2, default=str)
    return info

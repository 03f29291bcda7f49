"""Export a fine-tuned classifier for CPU deployment.

Writes, from a config and checkpoint (any mmpretrain ``ImageClassifier``:
ECViT, mmpretrain's ViT, ResNet, ...):

- ``model_fp32.ts``: TorchScript, float32;
- ``model_int8.ts``: TorchScript with int8 dynamic quantisation of every
  ``nn.Linear`` outside the classification head (weights int8, activations
  quantised on the fly; the bulk of a ViT's time);
- ``model_fp32.onnx``: ONNX (legacy TorchScript-based exporter, which needs
  no extra package), dynamic batch and image size;
- ``deploy.json``: how to feed them (input layout, size, classes, the
  config's test pipeline) and the measured deviations from the eager model.

Every exported model is one tensor function: input ``(B, 3, H, W)`` float32
images in **BGR order, 0-255** (what mmpretrain's ``PackInputs`` gives after the
config's test pipeline), normalisation and channel flip inside, output the
class probabilities ``(B, num_classes)``. A TorchScript file runs with
``torch.jit.load`` alone, without mmpretrain or ecdl_mm.

Tracing records one run of Python code: a branch or a size that depends on
the input is frozen into the file. So every exported file is loaded back and
compared with the eager model on a second batch size (3 images at the export
size) and a second image size (2 images, ``H + 32`` x ``W + 32`` by default,
``--check-size`` to choose); a difference above ``--atol`` (or a failure)
stops the export with :class:`TraceMismatchError` naming the file and the
input shape. torch's ``TracerWarning`` messages are shown, not silenced.

Before export the learnt query / value biases of EC-DL attention
(``q_bias``, ``v_bias``) are folded into one ``qkv`` bias: same function, and
``quantize_dynamic`` can then swap the layer.

With ``--eval`` the float model, both TorchScript files (and eager int8) are
run on the config's test set (``--split`` / ``--data-root`` override it), the
images of one lesion as one batch under ``torch.inference_mode``, and the
tool reports img/s, the int8 speed-up, and image- and lesion-level agreement
(lesion probability = mean of its images') of int8 with the float model.

Example::

    python tools/deploy/export.py CONFIG CHECKPOINT --out-dir work_dirs/deploy \\
        --eval --threads 4
"""
import argparse
import contextlib
import copy
import json
import os
import os.path as osp
import sys
import time
import warnings
from collections import OrderedDict

import torch
import torch.nn as nn

from ecdl_mm.utils import load_model_checkpoint, set_inference_threads
from ecdl_mm.utils.cli import run_cli

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class TraceMismatchError(RuntimeError):
    """An exported file computes something else than the eager model."""


@contextlib.contextmanager
def quiet_deprecations():
    """Silence the deprecation notices of torch.jit / torch.ao / legacy ONNX.

    They are the tools that work offline here (``torch.export`` based ONNX
    needs ``onnxscript``, ``torchao`` is not installed); see the README.
    ``TracerWarning`` (a trace may be wrong) stays visible.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=FutureWarning)
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', message='.*quantize_per_tensor.*')
        yield


def default_threads() -> int:
    """Threads for CPU inference: the cores this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


# Intra-op threads for the model, one inter-op thread.
set_threads = set_inference_threads


def fuse_qv_bias(model: nn.Module) -> int:
    """Fold ``q_bias`` / ``v_bias`` into a biased ``qkv`` linear, in place.

    Applies to every attention with ``bias == 'qv_bias'`` (ECDL's
    ``QVBiasAttention``, mmpretrain's ``BEiTAttention``): their forward calls
    ``F.linear(x, qkv.weight, cat(q_bias, 0, v_bias))``, which a quantised
    ``qkv`` cannot serve. After fusion the forward takes the plain
    ``self.qkv(x)`` branch and computes the same function.

    Returns:
        int: The number of attention layers fused.
    """
    fused = 0
    for module in model.modules():
        if getattr(module, 'bias', None) != 'qv_bias':
            continue
        qkv = module.qkv
        if not isinstance(qkv, nn.Linear) or qkv.bias is not None:
            raise ValueError(f'cannot fuse q/v biases of {type(module)}: '
                             f'qkv is {qkv}')
        new = nn.Linear(
            qkv.in_features,
            qkv.out_features,
            bias=True,
            device=qkv.weight.device,
            dtype=qkv.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(qkv.weight)
            new.bias.copy_(
                torch.cat((module.q_bias, torch.zeros_like(module.v_bias),
                           module.v_bias)))
        module.qkv = new
        del module.q_bias
        del module.v_bias
        module.bias = 'fused_qkv_bias'
        fused += 1
    return fused


class ExportWrapper(nn.Module):
    """A classifier as one function: BGR 0-255 images -> class probabilities.

    Args:
        model (nn.Module): An mmpretrain classifier (``forward(x,
            mode='tensor')`` gives the logits) with a
            ``ClsDataPreprocessor`` (mean, std, ``to_rgb``).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        pre = model.data_preprocessor
        # ClsDataPreprocessor says ``to_rgb``, mmengine's ImgDataPreprocessor
        # ``_channel_conversion``.
        self.to_rgb = bool(
            getattr(pre, 'to_rgb', getattr(pre, '_channel_conversion',
                                           False)))
        if getattr(pre, '_enable_normalize', False):
            mean, std = pre.mean.clone(), pre.std.clone()
        else:
            mean, std = torch.zeros(3, 1, 1), torch.ones(3, 1, 1)
        self.register_buffer('mean', mean.reshape(1, -1, 1, 1))
        self.register_buffer('std', std.reshape(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forward.

        Args:
            x (torch.Tensor): Images ``(B, 3, H, W)``, BGR, 0-255 floats.

        Returns:
            torch.Tensor: Class probabilities ``(B, num_classes)``.
        """
        if self.to_rgb:
            x = x.flip(1)
        x = (x - self.mean) / self.std
        logits = self.model(x, mode='tensor')
        if isinstance(logits, (tuple, list)):
            logits = logits[-1]
        return logits.softmax(dim=-1)


def _plain_linears(module: nn.Module) -> None:
    """Swap subclasses of ``nn.Linear`` (mmcv's ``Linear`` in ``FFN``) for
    ``nn.Linear``, in place: ``quantize_dynamic`` only swaps exact types."""
    for name, child in module.named_children():
        if isinstance(child, nn.Linear) and type(child) is not nn.Linear:
            new = nn.Linear(
                child.in_features,
                child.out_features,
                bias=child.bias is not None,
                device=child.weight.device,
                dtype=child.weight.dtype)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            _plain_linears(child)


def quantize_int8(wrapper: nn.Module, skip_prefixes=('model.head', )):
    """Int8 dynamic quantisation of the linear layers for CPU inference.

    Works on a copy. The classification head is left in float
    (``skip_prefixes``): it costs nothing and decides the output directly.
    """
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic
    wrapper = copy.deepcopy(wrapper)
    _plain_linears(wrapper)
    spec = {
        name: default_dynamic_qconfig
        for name, m in wrapper.named_modules() if isinstance(m, nn.Linear)
        and not name.startswith(tuple(skip_prefixes))
    }
    if not spec:
        raise ValueError('no nn.Linear to quantise in the model')
    with quiet_deprecations():
        return quantize_dynamic(wrapper, spec, dtype=torch.qint8, inplace=True)


def trace(module: nn.Module, example: torch.Tensor):
    """TorchScript by tracing ``module`` on ``example``.

    torch's own ``check_trace`` only re-runs the example input; the real
    check is :func:`check_exported`, on other shapes.
    """
    with quiet_deprecations(), torch.no_grad():
        return torch.jit.trace(module, example, check_trace=False)


def check_exported(name: str, run, eager, inputs, atol: float,
                   traced_shape) -> dict:
    """Compare an exported model with the eager one on ``inputs``.

    Args:
        name (str): The exported file, for messages.
        run (callable): The exported model: images -> probabilities.
        eager (callable): The eager model it was made from.
        inputs (list[torch.Tensor]): Check inputs, shapes other than the
            traced one.
        atol (float): Largest allowed absolute probability difference.
        traced_shape (tuple): The shape the file was traced on.

    Returns:
        dict: ``{'B x 3 x H x W': max abs difference}`` per input.

    Raises:
        TraceMismatchError: If the exported model fails on an input or
            differs from the eager model by more than ``atol``.
    """
    diffs = OrderedDict()
    for x in inputs:
        shape = tuple(x.shape)
        where = (f'{name} (traced on input shape {traced_shape}) on input '
                 f'shape {shape}')
        hint = ('The trace froze a size or branch of this input (see the '
                'TracerWarnings): fix the model code')
        hint += (', or, if the model is meant for one image size only, '
                 'export with --check-size H W equal to the export size.'
                 if shape[2:] != tuple(traced_shape[2:]) else '.')
        with torch.inference_mode():
            expected = eager(x)
        try:
            with torch.inference_mode():
                got = torch.as_tensor(run(x))
        except Exception as err:
            # TorchScript puts its traceback first, the error last.
            last = (str(err).strip().splitlines() or [''])[-1]
            raise TraceMismatchError(
                f'{where} fails: {type(err).__name__}: {last} {hint}'
            ) from err
        if got.shape != expected.shape:
            raise TraceMismatchError(
                f'{where} returns shape {tuple(got.shape)}, the eager model '
                f'{tuple(expected.shape)}.')
        diff = float((got - expected).abs().max())
        if not diff <= atol:  # NaN fails too
            raise TraceMismatchError(
                f'{where} differs from the eager model: max |prob diff| '
                f'{diff:.3g} > atol {atol:g}. {hint}')
        diffs[' x '.join(map(str, shape))] = diff
    return diffs


def _checked(path: str, run, eager, inputs, atol, traced_shape) -> dict:
    """:func:`check_exported`; a file that fails is deleted."""
    try:
        return check_exported(path, run, eager, inputs, atol, traced_shape)
    except TraceMismatchError:
        os.remove(path)
        raise


def _onnx_runner(path: str):
    import onnx
    from onnx.reference import ReferenceEvaluator
    session = ReferenceEvaluator(onnx.load(path))

    def run(x):
        (out, ) = session.run(None, {'images': x.numpy()})
        return out

    return run


def export_onnx(module: nn.Module, example: torch.Tensor, path: str,
                opset: int = 17) -> None:
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


def build_model(config, checkpoint, cfg_options=None):
    """The classifier of ``config`` with ``checkpoint`` loaded, in eval mode.

    Returns:
        tuple: ``(model, cfg)``.
    """
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)
    import ecdl_mm  # noqa: F401  (registers our parts, safe loading)
    from mmengine.config import Config
    from mmpretrain.apis import get_model
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = get_model(cfg, pretrained=False, device='cpu')
    if checkpoint:  # checked: every weight of the model must be in it
        load_model_checkpoint(model, checkpoint)
    return model.eval(), cfg


def input_size_of(cfg) -> tuple:
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


def export(model,
           out_dir: str,
           input_size=(224, 224),
           formats=('torchscript', 'onnx'),
           int8: bool = True,
           cfg=None,
           opset: int = 17,
           check_size=None,
           atol: float = 1e-4) -> dict:
    """Export ``model`` into ``out_dir`` and check the files against it.

    Args:
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
        if f not in ('torchscript', 'onnx'):
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
        classes=list(getattr(model, 'dataset_meta', {}).get('classes', [])),
        qv_bias_layers_fused=fused,
        torch=torch.__version__,
        quantized_engine=torch.backends.quantized.engine,
        files={},
        max_abs_diff={},
        trace_check=dict(atol=atol, max_abs_diff={}))
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
            _checked(path, loaded, deploy_model, check_inputs, atol,
                     traced_shape)
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
                _checked(path, loaded, q, check_inputs, atol,
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
        info['trace_check']['max_abs_diff']['onnx_fp32'] = _checked(
            path, _onnx_runner(path), deploy_model, check_inputs, atol,
            traced_shape)
        info['files']['onnx_fp32'] = path
        info['onnx_opset'] = opset
    with open(osp.join(out_dir, 'deploy.json'), 'w') as f:
        json.dump(info, f, indent=2, default=str)
    return info


def _lesion_batches(cfg, data_root=None, split=None):
    """The config's test set as ``[(lesion_id, label, images (B,3,H,W))]``."""
    from mmpretrain.registry import DATASETS
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    if data_root is not None:
        ds_cfg['data_root'] = data_root
    if split is not None:
        ds_cfg['sheet_name'] = split
    dataset = DATASETS.build(ds_cfg)
    groups = OrderedDict()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        lesion = str(info.get('lesion_id', i))
        item = dataset[i]
        groups.setdefault(lesion, dict(label=int(info['gt_label']), imgs=[]))
        groups[lesion]['imgs'].append(item['inputs'].float())
    return [(k, v['label'], torch.stack(v['imgs'])) for k, v in groups.items()]


def evaluate(variants: dict, lesions, rounds: int = 3) -> dict:
    """Speed and lesion-level agreement of model variants.

    Args:
        variants (dict): name -> callable on ``(B, 3, H, W)`` BGR 0-255
            images returning probabilities; the first is the reference.
        lesions (list): ``(lesion_id, label, images)`` as
            :func:`_lesion_batches` gives.
        rounds (int): Timed passes over the set per variant (interleaved).

    Returns:
        dict: Per variant img/s, lesion accuracy, and agreement with the
        reference at image and lesion level.
    """
    n_img = sum(len(x) for _, _, x in lesions)
    probs = {}
    with torch.inference_mode():
        for name, fn in variants.items():
            probs[name] = [fn(x) for _, _, x in lesions]  # also a warm-up
        times = {name: [] for name in variants}
        for r in range(rounds):
            order = list(variants.items())
            if r % 2:
                order.reverse()
            for name, fn in order:
                t0 = time.perf_counter()
                for _, _, x in lesions:
                    fn(x)
                times[name].append(time.perf_counter() - t0)
    ref_name = next(iter(variants))
    ref = probs[ref_name]
    labels = torch.tensor([label for _, label, _ in lesions])
    ref_img = torch.cat(ref).argmax(-1)
    ref_lesion = torch.stack([p.mean(0) for p in ref]).argmax(-1)
    results = OrderedDict()
    for name in variants:
        p = probs[name]
        img_pred = torch.cat(p).argmax(-1)
        lesion_pred = torch.stack([q.mean(0) for q in p]).argmax(-1)
        best = min(times[name])
        results[name] = dict(
            img_per_s=n_img / best,
            img_per_s_median=n_img / sorted(times[name])[len(times[name]) // 2],
            lesion_accuracy=float((lesion_pred == labels).float().mean()),
            image_agreement=float((img_pred == ref_img).float().mean()),
            lesion_agreement=float(
                (lesion_pred == ref_lesion).float().mean()),
            max_abs_prob_diff=float(
                (torch.cat(p) - torch.cat(ref)).abs().max()),
        )
    for name in variants:
        results[name]['speedup_vs_' + ref_name] = (
            results[name]['img_per_s'] / results[ref_name]['img_per_s'])
    return dict(
        images=n_img,
        lesions=len(lesions),
        rounds=rounds,
        reference=ref_name,
        variants=results)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a classifier to TorchScript / ONNX (+ int8) '
        'for CPU deployment')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        'checkpoint', nargs='?', default=None,
        help='checkpoint (omit for random weights: speed checks only)')
    parser.add_argument('--out-dir', default='work_dirs/deploy')
    parser.add_argument(
        '--formats', nargs='+', default=['torchscript', 'onnx'],
        choices=['torchscript', 'onnx'])
    parser.add_argument(
        '--no-int8', action='store_true', help='skip the int8 variant')
    parser.add_argument(
        '--input-size', type=int, nargs=2, metavar=('H', 'W'),
        help='default: from the config test pipeline')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--check-size', type=int, nargs=2, metavar=('H', 'W'),
        help='second image size the exported files are checked at against '
        'the eager model (default: the input size + 32); the export size '
        'itself for a model that only takes one size')
    parser.add_argument(
        '--atol', type=float, default=1e-4,
        help='largest |probability difference| allowed between an exported '
        'file and the eager model (default 1e-4)')
    parser.add_argument(
        '--threads', type=int, default=None,
        help='intra-op threads (default: the usable cores)')
    parser.add_argument(
        '--eval', action='store_true',
        help='time the variants and compare them on the test set')
    parser.add_argument('--data-root', help='override the test data_root')
    parser.add_argument('--split', help='override the test sheet_name')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--cfg-options', nargs='+', default=None,
                        help='key=value pairs merged into the config')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads or default_threads())
    cfg_options = None
    if args.cfg_options:
        from mmengine.config import DictAction
        ns = argparse.Namespace()
        DictAction(option_strings=[], dest='o')(None, ns, args.cfg_options)
        cfg_options = ns.o
    model, cfg = build_model(args.config, args.checkpoint, cfg_options)
    size = tuple(args.input_size) if args.input_size else input_size_of(cfg)
    info = export(
        model,
        args.out_dir,
        input_size=size,
        formats=args.formats,
        int8=not args.no_int8,
        cfg=cfg,
        opset=args.opset,
        check_size=tuple(args.check_size) if args.check_size else None,
        atol=args.atol)
    print(f"exported to {args.out_dir}: {', '.join(info['files'])}")
    for k, v in info['trace_check']['max_abs_diff'].items():
        print(f'  {k} vs eager: ' + ', '.join(
            f'{shape}: {d:.1e}' for shape, d in v.items()))
    for k, v in info['max_abs_diff'].items():
        print(f'  max |prob - eager prob| {k}: {v:.2e}')
    if not args.eval:
        return info
    lesions = _lesion_batches(cfg, args.data_root, args.split)
    variants = OrderedDict(fp32_eager=ExportWrapper(model).eval())
    for key in ('torchscript_fp32', 'torchscript_int8'):
        if key in info['files']:
            with quiet_deprecations():
                variants[key] = torch.jit.load(info['files'][key])
    if not args.no_int8:
        fused = copy.deepcopy(ExportWrapper(model).eval())
        fuse_qv_bias(fused)
        variants['int8_eager'] = quantize_int8(fused)
    with quiet_deprecations():
        report = evaluate(variants, lesions, rounds=args.rounds)
    report['threads'] = torch.get_num_threads()
    report['input_size'] = list(size)
    print(f"test set: {report['images']} images, {report['lesions']} "
          f"lesions, {report['threads']} threads, batches = lesions")
    for name, r in report['variants'].items():
        print(f"  {name:<17} {r['img_per_s']:8.1f} img/s  speed-up "
              f"{r['speedup_vs_fp32_eager']:.2f}x  lesion acc "
              f"{r['lesion_accuracy']:.3f}  agreement image "
              f"{r['image_agreement']:.3f} lesion "
              f"{r['lesion_agreement']:.3f}  max|dp| "
              f"{r['max_abs_prob_diff']:.2e}")
    with open(osp.join(args.out_dir, 'eval.json'), 'w') as f:
        json.dump(report, f, indent=2)
    info['eval'] = report
    return info


if __name__ == '__main__':
    run_cli(main)

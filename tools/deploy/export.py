# Copyright (c) ecdl_mm contributors. All rights reserved.
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
images in **BGR order, 0-255** (what mmpretrain's ``PackInputs`` gives after
the config's test pipeline), normalisation and channel flip inside, output the
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

With ``--eval`` the float model, both TorchScript files, eager int8 (and the
ONNX file, when onnxruntime is installed; a line says so when it is not) are
run on the config's test set (``--split`` / ``--data-root`` override it), the
images of one lesion as one batch under ``torch.inference_mode``, and the
tool reports img/s, the speed-up over eager fp32, and the share of images and
of lesions (lesion probability = mean of its images') whose predicted class
agrees with eager fp32's.

The code is :mod:`ecdl_mm.deploy`; this file is its command line.

Example::

    python tools/deploy/export.py CONFIG CHECKPOINT \\
        --out-dir work_dirs/deploy --eval --threads 4
"""
import argparse
import copy
import json
import os
import os.path as osp
from collections import OrderedDict

import torch

from ecdl_mm.deploy import (FORMATS, ExportWrapper, build_model, evaluate,
                            export, fuse_qv_bias, input_size_of,
                            lesion_batches, onnx_runner, onnxruntime_available,
                            quantize_int8, quiet_deprecations)
from ecdl_mm.utils import add_cfg_options, set_inference_threads
from ecdl_mm.utils.cli import run_cli
from ecdl_mm.utils.provenance import (add_to_json, collect_provenance,
                                      provenance_from_config)


def default_threads() -> int:
    """Threads for CPU inference: the cores this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a classifier to TorchScript / ONNX (+ int8) '
        'for CPU deployment')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        default=None,
        help='checkpoint (omit for random weights: speed checks only)')
    parser.add_argument('--out-dir', default='work_dirs/deploy')
    parser.add_argument(
        '--formats', nargs='+', default=list(FORMATS), choices=FORMATS)
    parser.add_argument(
        '--no-int8', action='store_true', help='skip the int8 variant')
    parser.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='default: from the config test pipeline')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--check-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='second image size the exported files are checked at against '
        'the eager model (default: the input size + 32); the export size '
        'itself for a model that only takes one size')
    parser.add_argument(
        '--atol',
        type=float,
        default=1e-4,
        help='largest |probability difference| allowed between an exported '
        'file and the eager model (default 1e-4)')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='intra-op threads (default: the usable cores)')
    parser.add_argument(
        '--eval',
        action='store_true',
        help='time the variants and compare them on the test set')
    parser.add_argument('--data-root', help='override the test data_root')
    parser.add_argument('--split', help='override the test sheet_name')
    parser.add_argument('--rounds', type=int, default=3)
    add_cfg_options(parser)
    return parser.parse_args(argv)


def _variants(model, info, int8: bool) -> OrderedDict:
    """The models --eval times, eager fp32 first (the reference)."""
    variants = OrderedDict(fp32_eager=ExportWrapper(model).eval())
    for key in ('torchscript_fp32', 'torchscript_int8'):
        if key in info['files']:
            with quiet_deprecations():
                variants[key] = torch.jit.load(info['files'][key])
    if int8:
        fused = copy.deepcopy(ExportWrapper(model).eval())
        fuse_qv_bias(fused)
        variants['int8_eager'] = quantize_int8(fused)
    if 'onnx_fp32' in info['files']:
        if onnxruntime_available():
            variants['onnx_fp32'] = onnx_runner(info['files']['onnx_fp32'],
                                                'onnxruntime')
        else:
            print('  onnx_fp32 not timed: onnxruntime is not installed '
                  '(pip install onnxruntime)')
    return variants


def main(argv=None):
    args = parse_args(argv)
    set_inference_threads(args.threads or default_threads())
    # --cfg-options checked and merged by merge_cfg_options (load_model)
    model, cfg = build_model(args.config, args.checkpoint, args.cfg_options)
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
    provenance = collect_provenance(
        config=args.config, checkpoint=args.checkpoint)
    add_to_json(osp.join(args.out_dir, 'deploy.json'), provenance)
    print(f"exported to {args.out_dir}: {', '.join(info['files'])}; "
          f"classes: {', '.join(info['classes']) or 'none in the checkpoint'}")
    print('trace check, max |prob - prob of the eager model it was made '
          'from| per input shape:')
    for k, v in info['trace_check']['max_abs_diff'].items():
        print(f'  {k}: ' + ', '.join(f'{shape}: {d:.1e}'
                                     for shape, d in v.items()))
    print('max |prob - eager fp32 prob| on the check batch:')
    for k, v in info['max_abs_diff'].items():
        print(f'  {k}: {v:.2e}')
    if not args.eval:
        return info
    lesions = lesion_batches(cfg, args.data_root, args.split)
    variants = _variants(model, info, int8=not args.no_int8)
    with quiet_deprecations():
        report = evaluate(variants, lesions, rounds=args.rounds)
    report['threads'] = torch.get_num_threads()
    report['input_size'] = list(size)
    print(f"test set: {report['images']} images, {report['lesions']} "
          f"lesions, {report['threads']} threads, batches = lesions; "
          'agreement = share of images / lesions with the same predicted '
          'class as fp32_eager')
    for name, r in report['variants'].items():
        print(f"  {name:<17} {r['img_per_s']:8.1f} img/s  speed-up "
              f"{r['speedup_vs_fp32_eager']:.2f}x  lesion acc "
              f"{r['lesion_accuracy']:.3f}  agreement image "
              f"{r['image_agreement']:.3f} lesion "
              f"{r['lesion_agreement']:.3f}  max |prob - fp32_eager prob| "
              f"{r['max_abs_prob_diff']:.2e}")
    report['provenance'] = provenance_from_config(
        cfg, config=args.config, checkpoint=args.checkpoint)
    if args.data_root:  # the options lesion_batches used
        report['provenance']['data_root'] = osp.abspath(args.data_root)
    if args.split:
        report['provenance']['sheet_name'] = args.split
    with open(osp.join(args.out_dir, 'eval.json'), 'w') as f:
        json.dump(report, f, indent=2)
    info['eval'] = report
    return info


if __name__ == '__main__':
    run_cli(main)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""File-level checkpoint conversion behind ``tools/model_converters/``.

Reads a checkpoint without running pickled code, maps its keys with
:mod:`ecdl_mm.models.utils.ckpt_convert`, compares the result with the
``ECViT`` its keys describe and saves ``{'state_dict': ..., 'meta': ...}``.
It lives outside ``ecdl_mm.models`` because it builds an ``ECViT``, which
itself uses the key maps (to accept mmpretrain weights while loading).
"""
import argparse
import os.path as osp
from typing import List, Optional

import torch

from ...utils.checkpoint import CheckpointKindError, safe_load
from ..backbones import ECViT
from .ckpt_convert import CONVERTERS, FORMATS, infer_ecvit_arch


def check_against_ecvit(state_dict: dict, backbone_cfg: dict) -> dict:
    """Keys an ``ECViT`` built from ``backbone_cfg`` misses or does not expect.

    The model is built on the meta device, so this costs no memory.
    """
    cfg = {k: v for k, v in backbone_cfg.items() if k != 'type'}
    with torch.device('meta'):
        model = ECViT(**cfg)
    expected = {f'backbone.{k}': v for k, v in model.state_dict().items()}
    given = {k: v for k, v in state_dict.items() if k.startswith('backbone.')}
    return dict(
        missing=sorted(set(expected) - set(given)),
        unexpected=sorted(set(given) - set(expected)),
        shape_mismatch=sorted(
            k for k in set(given) & set(expected)
            if tuple(given[k].shape) != tuple(expected[k].shape)))


def load_checkpoint_file(path: str):
    """Load a checkpoint (path, URL or any mmengine scheme) without running
    arbitrary pickled code; a URL is downloaded to the torch hub cache."""
    return safe_load(path, map_location='cpu')


def convert_file(src: str, dst: str, fmt: str) -> dict:
    """Convert ``src`` of format ``fmt`` and save it to ``dst``.

    Returns:
        dict: The ``meta`` written beside the state dict (source format,
        ``ECViT`` config guess, ``num_classes``, conversion report and the
        missing / unexpected keys against that ``ECViT``).
    """
    if fmt not in CONVERTERS:
        raise ValueError(f'format {fmt!r} is not one of {FORMATS}')
    ckpt = load_checkpoint_file(src)
    state_dict, report = CONVERTERS[fmt](ckpt)
    if 'backbone.patch_embed.projection.weight' not in state_dict:
        raise CheckpointKindError(
            f'{src!r} does not look like a {fmt} ViT checkpoint: no patch '
            'embedding found')
    backbone_cfg = infer_ecvit_arch(state_dict)
    meta = dict(
        source=osp.basename(src),
        source_format=fmt,
        backbone=backbone_cfg,
        report=report,
        keys=check_against_ecvit(state_dict, backbone_cfg))
    if 'head.fc.weight' in state_dict:
        meta['num_classes'] = int(state_dict['head.fc.weight'].shape[0])
    torch.save(dict(state_dict=state_dict, meta=meta), dst)
    return meta


def format_report(meta: dict) -> str:
    """The conversion ``meta`` as the lines the converter tools print."""
    keys = meta['keys']
    report = meta['report']
    lines = [
        f"source format: {meta['source_format']}",
        f"ECViT config guess: {meta['backbone']}",
        f"num_classes: {meta.get('num_classes', '- (encoder only)')}",
        f"missing keys ({len(keys['missing'])}): {keys['missing']}",
        f"unexpected keys ({len(keys['unexpected'])}): {keys['unexpected']}",
        f"shape mismatches: {keys['shape_mismatch']}",
        f"dropped source keys ({len(report['dropped'])}):",
    ] + [f'  - {d}' for d in report['dropped']] + [
        f'note: {n}' for n in report['notes']
    ] + [f'WARNING: {w}' for w in report['warnings']]
    return '\n'.join(lines)


def converter_main(fmt: str,
                   doc: str,
                   argv: Optional[List[str]] = None) -> dict:
    """The command line of the ``tools/model_converters/`` scripts: ``SRC
    DST``, converted from ``fmt``; prints the report.

    Args:
        fmt (str): The source format, one of :data:`FORMATS`.
        doc (str): The tool's docstring (its first line is the description).
        argv (list[str], optional): The arguments. Defaults to ``sys.argv``.

    Returns:
        dict: The ``meta`` written beside the state dict.
    """
    parser = argparse.ArgumentParser(description=doc.split('\n')[0])
    parser.add_argument(
        'src',
        help='source checkpoint: a path or a URL (downloaded to the '
        'torch hub cache)')
    parser.add_argument('dst', help='output path')
    args = parser.parse_args(argv)
    meta = convert_file(args.src, args.dst, fmt)
    print(format_report(meta))
    print(f'saved to {args.dst}')
    return meta

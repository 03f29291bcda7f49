# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Convert ViT checkpoints of other codebases to ``ECViT`` / ``ECMAE`` keys.

Every converter returns ``(state_dict, report)``: the state dict has keys
``backbone.*`` (``ECViT``), ``head.fc.*`` (``LinearClsHead``) and, for MAE
pre-training checkpoints whose decoder matches ours, ``neck.*``
(``ECMAEPretrainDecoder``); the report lists what was dropped and why;
:func:`infer_ecvit_arch` guesses the ``ECViT`` config from converted keys.
This module only maps keys (no file I/O, no model): reading, checking against
an ``ECViT`` and saving live in :mod:`ecdl_mm.models.utils.model_converter`,
which the scripts in ``tools/model_converters/`` call.

Supported formats:

- ``ecdl``: EC-DL releases (weights under ``model``; fine-tuning keys
  ``patch_embed.proj``, ``blocks.N.{norm1,norm2,attn.{q_bias,v_bias,qkv,proj},
  mlp.{fc1,fc2},gamma_1,gamma_2}``, ``fc_norm``, ``head``; MAE keys
  ``encoder.*``, ``decoder.{blocks,norm,head}``, ``encoder_to_decoder``,
  ``mask_token``).
- ``mae``: official MAE (FAIR) pre-training and fine-tuning checkpoints.
- ``timm``: timm ``VisionTransformer`` state dicts.
- ``mmpretrain``: mmpretrain ``VisionTransformer`` / ``MAEViT`` /
  ``MoCoV3ViT`` / ``BEiTViT`` checkpoints (classifier, MAE, MoCo v3, the
  DINOv2 ``3rdparty`` files with layer scale and a ``mask_token``).

Fused ``qkv`` biases are split into ``q_bias`` / ``v_bias``; dropping the key
bias is exact (it adds the same value to every logit of a query, which the
softmax ignores). Learnt position embeddings and class tokens have no place
in ``ECViT`` (fixed 1-D sinusoid table, no class token): they are dropped with
a warning, as the converted model then computes different features.
"""
import re
import warnings
from collections import OrderedDict
from typing import Dict, Tuple

import torch

from ...utils.checkpoint import CheckpointKindError

FORMATS = ('ecdl', 'mae', 'timm', 'mmpretrain')


def _new_report() -> dict:
    return dict(dropped=[], warnings=[], notes=[])


def _split_qkv_bias(new_sd: dict, prefix: str, bias: torch.Tensor,
                    report: dict) -> None:
    q, k, v = bias.chunk(3)
    new_sd[prefix + 'q_bias'] = q.clone()
    new_sd[prefix + 'v_bias'] = v.clone()
    note = 'fused qkv bias split into q_bias/v_bias (key bias dropped: ' \
           'softmax-invariant, exact)'
    if note not in report['notes']:
        report['notes'].append(note)


def _drop(report: dict, key: str, why: str, warn: bool = False) -> None:
    report['dropped'].append(f'{key} ({why})')
    if warn:
        msg = f'{key} dropped: {why}'
        report['warnings'].append(msg)
        warnings.warn(msg)


# Per-block renames shared by FAIR MAE, timm and EC-DL (their Block classes
# have the same attribute names).
_BLOCK_RENAMES = [
    ('norm1.', 'ln1.'),
    ('norm2.', 'ln2.'),
    ('attn.qkv.weight', 'attn.qkv.weight'),
    ('attn.q_bias', 'attn.q_bias'),
    ('attn.v_bias', 'attn.v_bias'),
    ('attn.proj.', 'attn.proj.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
    ('gamma_1', 'gamma_1'),
    ('gamma_2', 'gamma_2'),
    ('ls1.gamma', 'gamma_1'),
    ('ls2.gamma', 'gamma_2'),
]


def _convert_block_key(rest: str) -> str:
    for old, new in _BLOCK_RENAMES:
        if rest.startswith(old):
            return new + rest[len(old):]
    return None


def _convert_timm_like_vit(sd: dict, src_prefix: str, dst_prefix: str,
                           report: dict, fmt: str) -> Dict[str, torch.Tensor]:
    """Convert a timm / FAIR / EC-DL style ViT (``blocks.N.*``) encoder."""
    new_sd = OrderedDict()
    for key, val in sd.items():
        if not key.startswith(src_prefix):
            continue
        name = key[len(src_prefix):]
        m = re.match(r'blocks\.(\d+)\.(.*)', name)
        if m:
            idx, rest = m.groups()
            out = f'{dst_prefix}layers.{idx}.'
            if rest == 'attn.qkv.bias':
                _split_qkv_bias(new_sd, out + 'attn.', val, report)
                continue
            new_rest = _convert_block_key(rest)
            if new_rest is None:
                _drop(report, key, 'no counterpart in ECViTLayer', warn=True)
                continue
            new_sd[out + new_rest] = val
        elif name.startswith('patch_embed.proj.'):
            new_sd[dst_prefix + 'patch_embed.projection.' +
                   name[len('patch_embed.proj.'):]] = val
        elif name in ('cls_token', 'dist_token', 'reg_token'):
            _drop(report, key, 'ECViT has no extra tokens', warn=True)
        elif name == 'pos_embed':
            _drop(
                report,
                key,
                'ECViT uses a fixed 1-D sinusoid table, not a stored one',
                warn=True)
        elif name.startswith('norm.'):
            new_sd[dst_prefix + 'ln1.' + name[len('norm.'):]] = val
        elif name.startswith('fc_norm.'):
            new_sd[dst_prefix + 'ln2.' + name[len('fc_norm.'):]] = val
        elif name.startswith('head.') and src_prefix == '':
            if val.numel() == 0:
                continue
            new_sd['head.fc.' + name[len('head.'):]] = val
        elif name.startswith('head.'):
            _drop(report, key, f'{fmt} encoder head')
        else:
            _drop(
                report,
                key,
                f'not part of the {fmt} encoder mapping',
                warn=not name.startswith(('decoder', 'mask_token')))
    return new_sd


def _unwrap(ckpt) -> dict:
    """The weights of a loaded checkpoint (``model``, ``state_dict``, raw)."""
    if not isinstance(ckpt, dict):
        raise CheckpointKindError(
            f'checkpoint is a {type(ckpt).__name__}, not a dict')
    for key in ('model', 'state_dict', 'module', 'model_ema'):
        if key in ckpt and isinstance(ckpt[key], dict):
            return ckpt[key]
    return ckpt


def convert_ecdl(ckpt: dict) -> Tuple[dict, dict]:
    """Convert an EC-DL release checkpoint (fine-tuning or MAE)."""
    sd = _unwrap(ckpt)
    report = _new_report()
    if any(k.startswith('encoder.') for k in sd):
        new_sd = _convert_timm_like_vit(sd, 'encoder.', 'backbone.', report,
                                        'ecdl')
        for key, val in sd.items():
            if key.startswith('decoder.blocks.'):
                idx, rest = re.match(r'decoder\.blocks\.(\d+)\.(.*)',
                                     key).groups()
                new_rest = _convert_block_key(rest)
                if new_rest is None:
                    _drop(report, key, 'no counterpart in ECViTLayer', True)
                else:
                    new_sd[f'neck.blocks.{idx}.{new_rest}'] = val
            elif key.startswith(('decoder.norm.', 'decoder.head.')):
                new_sd['neck.' + key[len('decoder.'):]] = val
            elif key in ('encoder_to_decoder.weight', 'mask_token'):
                new_sd['neck.' + key] = val
            elif key == 'pos_embed':
                _drop(report, key, 'decoder table is fixed and recomputed')
            elif not key.startswith('encoder.'):
                _drop(report, key, 'unknown EC-DL MAE key', warn=True)
    else:
        new_sd = _convert_timm_like_vit(sd, '', 'backbone.', report, 'ecdl')
    return new_sd, report


def convert_mae(ckpt: dict) -> Tuple[dict, dict]:
    """Convert an official MAE (FAIR) pre-training or fine-tuning file.

    The FAIR decoder (``decoder_*``: biased embedding, class token slot,
    fused qkv bias, different sizes) is not ours: it is dropped.
    """
    sd = _unwrap(ckpt)
    report = _new_report()
    new_sd = _convert_timm_like_vit(sd, '', 'backbone.', report, 'mae')
    if any(k.startswith('decoder_') for k in sd):
        report['notes'].append('FAIR MAE decoder dropped (pre-training '
                               'file): only the encoder is converted')
    return new_sd, report


def convert_timm(ckpt: dict) -> Tuple[dict, dict]:
    """Convert a timm ``VisionTransformer`` state dict."""
    sd = _unwrap(ckpt)
    report = _new_report()
    new_sd = _convert_timm_like_vit(sd, '', 'backbone.', report, 'timm')
    return new_sd, report


def convert_mmpretrain_vit_state(sd: dict,
                                 prefix: str,
                                 report: dict,
                                 dst_prefix: str = None) -> dict:
    """Convert mmpretrain ``VisionTransformer``-style keys under ``prefix``.

    Keys not under ``prefix`` are left out. ``dst_prefix`` defaults to
    ``prefix``.
    """
    dst_prefix = prefix if dst_prefix is None else dst_prefix
    new_sd = OrderedDict()
    for key, val in sd.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        m = re.match(r'layers\.(\d+)\.(.*)', name)
        if m:
            idx, rest = m.groups()
            out = f'{dst_prefix}layers.{idx}.'
            if rest == 'attn.qkv.bias':
                _split_qkv_bias(new_sd, out + 'attn.', val, report)
            elif rest == 'attn.gamma1.weight':
                new_sd[out + 'gamma_1'] = val
            elif rest == 'ffn.gamma2.weight':
                new_sd[out + 'gamma_2'] = val
            elif rest.startswith('attn.relative_position'):
                _drop(report, key, 'ECViT has no relative position bias', True)
            else:
                new_sd[out + rest] = val
        elif name in ('cls_token', ):
            _drop(report, key, 'ECViT has no class token', warn=True)
        elif name == 'mask_token':
            # mmpretrain's DINOv2 files keep DINOv2's (untrained in the
            # distilled ViT-S/B/L) iBOT mask token; ECMAE's lives in the neck.
            _drop(report, key, 'DINOv2 mask token: not part of ECViT')
        elif name == 'pos_embed':
            _drop(
                report,
                key,
                'ECViT uses a fixed 1-D sinusoid table, not a stored one',
                warn=True)
        elif name.startswith('pre_norm.'):
            _drop(report, key, 'ECViT has no pre-norm', warn=True)
        else:
            new_sd[dst_prefix + name] = val
    return new_sd


def convert_mmpretrain(ckpt: dict) -> Tuple[dict, dict]:
    """Convert an mmpretrain ViT classifier or MAE checkpoint."""
    sd = _unwrap(ckpt)
    report = _new_report()
    if not any(k.startswith('backbone.') for k in sd):
        # A bare backbone state dict.
        sd = {'backbone.' + k: v for k, v in sd.items()}
    new_sd = convert_mmpretrain_vit_state(sd, 'backbone.', report)
    for key, val in sd.items():
        if key.startswith('backbone.'):
            continue
        if key.startswith('head.fc.'):
            new_sd[key] = val
        elif key.startswith('head.layers.head.'):
            new_sd['head.fc.' + key[len('head.layers.head.'):]] = val
        elif key.startswith('neck.'):
            _drop(report, key, 'mmpretrain MAE decoder is not ECMAE\'s')
        else:
            _drop(
                report,
                key,
                'no counterpart in ECViT + LinearClsHead',
                warn=True)
    return new_sd, report


CONVERTERS = dict(
    ecdl=convert_ecdl,
    mae=convert_mae,
    timm=convert_timm,
    mmpretrain=convert_mmpretrain)


def infer_ecvit_arch(state_dict: dict) -> dict:
    """Guess the ``ECViT`` constructor arguments from converted weights.

    ``num_heads`` cannot be read from weights: 64-wide heads are assumed
    (true for the tiny/small/base/large presets).
    """
    w = state_dict['backbone.patch_embed.projection.weight']
    embed_dims, in_channels, patch_size = w.shape[0], w.shape[1], w.shape[2]
    layer_ids = {
        int(k.split('.')[2])
        for k in state_dict if k.startswith('backbone.layers.')
    }
    fc1 = state_dict['backbone.layers.0.ffn.layers.0.0.weight']
    arch = dict(
        embed_dims=embed_dims,
        num_layers=max(layer_ids) + 1,
        num_heads=max(1, embed_dims // 64),
        feedforward_channels=fc1.shape[0])
    cfg = dict(
        type='ECViT',
        arch=arch,
        patch_size=patch_size,
        in_channels=in_channels,
        final_norm='backbone.ln1.weight' in state_dict,
        qv_bias='backbone.layers.0.attn.q_bias' in state_dict)
    if 'backbone.layers.0.gamma_1' in state_dict:
        # Any positive value creates the layer scales; the weights replace it.
        cfg['init_values'] = 0.1
    return cfg

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Refuse a checkpoint of the wrong kind for the model.

mmengine loads with ``strict=False`` and only logs what is missing, so a
pre-training checkpoint given to a classifier silently leaves a random head;
:func:`load_model_checkpoint` checks the fit first.
"""
import re
from collections import OrderedDict
from typing import Union

import torch
import torch.nn as nn
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import load_state_dict

from .checkpoint_errors import CheckpointKindError
from .checkpoint_loaders import safe_load


def _unwrap(model: nn.Module) -> nn.Module:
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def checkpoint_state_dict(checkpoint, filename: str = 'checkpoint') -> dict:
    """The weights of ``checkpoint`` as mmengine would load them.

    ``checkpoint['state_dict']`` or the checkpoint itself, ``module.``
    prefixes removed.

    Raises:
        CheckpointKindError: If there is no dict of tensors.
    """
    state = checkpoint
    if isinstance(checkpoint, dict) and 'state_dict' in checkpoint:
        state = checkpoint['state_dict']
    if not isinstance(state, dict) or not any(
            isinstance(v, torch.Tensor) for v in state.values()):
        what = (f'a dict with keys {sorted(map(str, state))[:6]}'
                if isinstance(state, dict) else f'a {type(state).__name__}')
        raise CheckpointKindError(
            f'{filename!r} is not a model checkpoint: it holds {what}, no '
            'weights (a dict of tensors, or one under `state_dict`)')
    return OrderedDict(
        (re.sub(r'^module\.', '', k), v) for k, v in state.items())


def check_checkpoint_fits(model: nn.Module,
                          checkpoint,
                          filename: str = 'checkpoint') -> None:
    """Refuse a checkpoint that would leave weights of ``model`` unloaded.

    mmengine loads with ``strict=False`` and only logs what is missing, so a
    pre-training checkpoint given to a classifier (or a classifier's to a
    masked autoencoder) silently leaves a random head. Every parameter of the
    model must be in the checkpoint with its shape; extra keys (a decoder, a
    teacher) and missing buffers are allowed.

    Raises:
        CheckpointKindError: Naming the file, the missing weights and the
            prefixes the checkpoint does hold.
    """
    state = checkpoint_state_dict(checkpoint, filename)
    params = OrderedDict(_unwrap(model).named_parameters())
    missing = [k for k in params if k not in state]
    mismatched = [
        f'{k} {tuple(state[k].shape)} vs {tuple(p.shape)}'
        for k, p in params.items()
        if k in state and hasattr(state[k], 'shape')
        and tuple(state[k].shape) != tuple(p.shape)
    ]
    if not missing and not mismatched:
        return
    held = sorted({k.split('.')[0] + '.' for k in state})
    problems = []
    if missing:
        problems.append(f'{len(missing)} of the model\'s {len(params)} '
                        f'weights are missing ({", ".join(missing[:4])}'
                        f'{", ..." if len(missing) > 4 else ""})')
    if mismatched:
        problems.append(f'{len(mismatched)} have another shape '
                        f'({", ".join(mismatched[:2])})')
    raise CheckpointKindError(
        f'checkpoint {filename!r} does not fit the model: '
        f'{"; ".join(problems)}; it holds {", ".join(held[:8])} weights. Is '
        'it a checkpoint of another kind or stage (e.g. a masked-autoencoder '
        'pre-training checkpoint given to a classifier)?')


def load_model_checkpoint(
        model: nn.Module,
        filename: str,
        map_location: Union[str, torch.device] = 'cpu') -> dict:
    """Load a trained model's checkpoint into ``model``, checked.

    Like mmengine's ``load_checkpoint`` (any scheme, weights only), but
    refuses a checkpoint that does not fit (:func:`check_checkpoint_fits`).
    When the checkpoint's meta carries the dataset meta (classes), it is
    stored as ``model._dataset_meta``, as mmpretrain's ``get_model`` does.

    Returns:
        dict: The checkpoint.
    """
    checkpoint = safe_load(filename, map_location)
    check_checkpoint_fits(model, checkpoint, filename)
    load_state_dict(
        _unwrap(model), checkpoint_state_dict(checkpoint, filename))
    meta = checkpoint.get('meta') or {}
    if isinstance(meta, dict) and meta.get('dataset_meta'):
        model._dataset_meta = meta['dataset_meta']
    elif isinstance(meta, dict) and meta.get('CLASSES'):
        model._dataset_meta = {'classes': meta['CLASSES']}
    return checkpoint

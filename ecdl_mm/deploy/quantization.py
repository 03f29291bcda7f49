# Copyright (c) ecdl_mm contributors. All rights reserved.
import copy
from typing import Sequence

import torch
import torch.nn as nn

from ._warnings import quiet_deprecations


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


def quantize_int8(
    wrapper: nn.Module, skip_prefixes: Sequence[str] = ('model.head', )
) -> nn.Module:
    """Int8 dynamic quantisation of the linear layers for CPU inference.

    Weights are int8, activations quantised on the fly. Works on a copy.

    Args:
        wrapper (nn.Module): Usually an :class:`ExportWrapper` whose q/v
            biases were fused (:func:`fuse_qv_bias`).
        skip_prefixes (Sequence[str]): Module names left in float. Defaults
            to the classification head: it costs nothing and decides the
            output directly.

    Returns:
        nn.Module: The quantised copy.
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

# Copyright (c) ecdl_mm contributors. All rights reserved.
import torch
import torch.nn as nn


def fuse_qv_bias(model: nn.Module) -> int:
    """Fold ``q_bias`` / ``v_bias`` into a biased ``qkv`` linear, in place.

    Applies to every attention with ``bias == 'qv_bias'`` (ECDL's
    ``QVBiasAttention``, mmpretrain's ``BEiTAttention``): their forward calls
    ``F.linear(x, qkv.weight, cat(q_bias, 0, v_bias))``, which a quantised
    ``qkv`` cannot serve. After fusion the forward takes the plain
    ``self.qkv(x)`` branch and computes the same function.

    Args:
        model (nn.Module): Any module; changed in place.

    Returns:
        int: The number of attention layers fused.

    Raises:
        ValueError: If such an attention's ``qkv`` is not a bias-free
            ``nn.Linear``.
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

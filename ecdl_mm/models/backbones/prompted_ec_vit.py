# Copyright (c) ecdl_mm contributors. All rights reserved.
import math
from functools import reduce
from operator import mul
from typing import Tuple

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from .ec_vit import ECViT


@MODELS.register_module()
class PromptedECViT(ECViT):
    """:class:`ECViT` with learnable prompt tokens (visual prompt tuning).

    Visual prompt tuning (Jia et al., ECCV 2022), as MedFM's prompted ViTs
    use it for few-shot medical transfer: ``num_prompts`` learnt tokens are
    put in front of the patch tokens, before the first layer (shallow) or
    replaced before every layer (deep, each layer its own prompts). They
    take part in attention but not in the output: the pooled feature and
    the token map are computed from the patch tokens only. With
    ``freeze=True`` only the prompts train (the head, outside the backbone,
    trains too).

    With ``num_prompts=0`` the model is :class:`ECViT` itself: the same
    parameters, state dict and outputs.

    Relies on these attributes of :class:`ECViT`: ``embed()``, ``layers``,
    ``num_layers``, ``embed_dims``, ``patch_size``, ``out_indices``,
    ``out_type``, ``final_norm``, ``ln1`` (when ``final_norm``) and
    ``fc_norm`` (for ``out_type='avg_featmap'``).

    Args:
        num_prompts (int): Prompt tokens per layer (deep) or in all
            (shallow). Defaults to 0 (plain ECViT).
        deep_prompts (bool): New prompts before every layer (VPT-deep), else
            only before the first (VPT-shallow). Defaults to True.
        freeze (bool): Freeze every ECViT parameter, so that only the
            prompts are trained. Defaults to True when ``num_prompts > 0``.
        prompt_drop_rate (float): Dropout on the prompts. Defaults to 0.
        **kwargs: The arguments of :class:`ECViT`.
    """

    def __init__(self,
                 *args,
                 num_prompts: int = 0,
                 deep_prompts: bool = True,
                 freeze: bool = None,
                 prompt_drop_rate: float = 0.,
                 **kwargs) -> None:
        if isinstance(
                num_prompts,
                bool) or not isinstance(num_prompts, int) or num_prompts < 0:
            raise ValueError(
                f'num_prompts={num_prompts!r} must be an integer >= 0')
        super().__init__(*args, **kwargs)
        self.num_prompts = num_prompts
        self.deep_prompts = deep_prompts
        self.freeze = num_prompts > 0 if freeze is None else bool(freeze)
        if self.freeze:
            for param in self.parameters():
                param.requires_grad = False
        if num_prompts > 0:
            depth = self.num_layers if deep_prompts else 1
            self.prompts = nn.Parameter(
                torch.zeros(depth, num_prompts, self.embed_dims))
            self.prompt_drop = nn.Dropout(prompt_drop_rate)
        else:
            self.prompts = None

    def init_weights(self) -> None:
        """ECViT's init (or its checkpoint), then the prompts uniform in
        +-sqrt(6 / (3 * patch_size^2 + embed_dims)) as in VPT (Xavier
        uniform over the patch-embedding fan-in and the width)."""
        super().init_weights()
        if self.prompts is not None:
            val = math.sqrt(6. /
                            float(3 * reduce(mul, (self.patch_size, ) * 2, 1) +
                                  self.embed_dims))
            nn.init.uniform_(self.prompts, -val, val)

    def _format_tokens(self, x: torch.Tensor, hw: Tuple[int,
                                                        int]) -> torch.Tensor:
        if self.out_type == 'raw':
            return x
        if self.out_type == 'featmap':
            B = x.size(0)
            return x.reshape(B, *hw, -1).permute(0, 3, 1, 2)
        return self.fc_norm(x.mean(dim=1))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Forward.

        Args:
            x (torch.Tensor): Images, shape ``(B, C, H, W)``.

        Returns:
            tuple[torch.Tensor]: One output per ``out_indices`` entry,
            computed from the patch tokens (prompts removed), its shape set
            by ``out_type``.
        """
        if self.prompts is None:
            return super().forward(x)
        x, hw = self.embed(x)
        B, P = x.size(0), self.num_prompts
        outs = []
        for i, layer in enumerate(self.layers):
            if i == 0 or self.deep_prompts:
                prompt = self.prompt_drop(
                    self.prompts[i if self.deep_prompts else 0]).expand(
                        B, -1, -1).to(x.dtype)
                x = torch.cat([prompt, x if i == 0 else x[:, P:]], dim=1)
            x = layer(x)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_tokens(x[:, P:], hw))
        return tuple(outs)

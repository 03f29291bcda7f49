# Copyright (c) ecdl_mm contributors. All rights reserved.
from typing import Optional

import torch
import torch.nn.functional as F
from mmpretrain.models.utils import BEiTAttention


class QVBiasAttention(BEiTAttention):
    """Multi-head self-attention with learnt query / value biases.

    The projection layout of the EC-DL (and BEiT) ViT: one ``qkv`` linear
    without bias plus separate ``q_bias`` and ``v_bias`` parameters; the key
    bias is zero (a key bias would not change the softmax anyway). Parameters
    and names are those of mmpretrain's :class:`BEiTAttention` (without the
    relative position bias); the forward uses
    :func:`torch.nn.functional.scaled_dot_product_attention`, as mmpretrain's
    ``MultiheadAttention`` does, so that fused kernels are used.

    Args:
        embed_dims (int): The embedding dimension.
        num_heads (int): Parallel attention heads.
        qv_bias (bool): Whether to learn ``q_bias`` and ``v_bias``.
            Defaults to True.
        qk_scale (float, optional): Override the default scale
            ``head_dims ** -0.5``. Defaults to None.
        attn_drop_rate (float): Dropout rate of the attention weights.
            Defaults to 0.
        proj_drop_rate (float): Dropout rate of the output. Defaults to 0.
        init_cfg (dict, optional): Initialization config dict.
            Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qv_bias: bool = True,
                 qk_scale=None,
                 attn_drop_rate: float = 0.,
                 proj_drop_rate: float = 0.,
                 init_cfg=None):
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims={embed_dims} must be divisible by '
                             f'num_heads={num_heads}')
        super().__init__(
            embed_dims=embed_dims,
            num_heads=num_heads,
            window_size=None,
            use_rel_pos_bias=False,
            bias='qv_bias' if qv_bias else False,
            qk_scale=qk_scale,
            attn_drop_rate=attn_drop_rate,
            proj_drop_rate=proj_drop_rate,
            init_cfg=init_cfg)
        self.attn_drop_rate = attn_drop_rate

    def forward(self,
                x: torch.Tensor,
                rel_pos_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Forward.

        Args:
            x (torch.Tensor): Tokens, shape ``(B, N, C)``.
            rel_pos_bias (None): ``BEiTAttention``'s argument, which
                ``BEiTTransformerEncoderLayer`` passes; this attention has no
                relative position bias, so it must be None. Defaults to None.

        Returns:
            torch.Tensor: Shape ``(B, N, C)``.
        """
        if rel_pos_bias is not None:
            raise ValueError('QVBiasAttention has no relative position bias: '
                             'rel_pos_bias must be None')
        B, N, C = x.shape
        if self.bias == 'qv_bias':
            qkv_bias = torch.cat(
                (self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
            qkv = F.linear(x, self.qkv.weight, qkv_bias)
        else:
            qkv = self.qkv(x)
        q, k, v = qkv.reshape(B, N, 3, self.num_heads,
                              -1).permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(
            q,
            k,
            v,
            dropout_p=self.attn_drop_rate if self.training else 0.,
            scale=self.scale)
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))

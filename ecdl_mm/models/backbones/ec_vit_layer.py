# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The encoder block of the EC-DL ViT (:class:`ECViTLayer`), used by
:class:`~ecdl_mm.models.backbones.ECViT` and the ECMAE decoder."""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule
from mmpretrain.models.backbones.beit import BEiTTransformerEncoderLayer
from mmpretrain.models.utils import build_norm_layer

from ..utils import DropPath, QVBiasAttention


class ECViTLayer(BEiTTransformerEncoderLayer):
    """One pre-norm encoder block of the EC-DL ViT.

    ``x + drop_path(gamma_1 * attn(ln1(x)))`` then
    ``x + drop_path(gamma_2 * ffn(ln2(x)))``: mmpretrain's
    :class:`BEiTTransformerEncoderLayer`, whose forward, ``norm1`` / ``norm2``
    and parameter names (``ln1``, ``attn``, ``ln2``, ``ffn.layers.0.0``,
    ``ffn.layers.1``, ``gamma_1``, ``gamma_2``) it inherits.

    Differences from mmpretrain's layer:

    - the attention is :class:`QVBiasAttention` (no relative position bias;
      ``rel_pos_bias`` must stay None) with fused scaled-dot-product kernels;
    - the FFN applies no stochastic depth of its own (BEiT's FFN drops its
      path once inside the FFN and once more in the layer);
    - ``drop_path`` is an identity at rate 0, else :class:`DropPath` (mmcv's
      mask on the same random stream, one full-size multiplication instead
      of two);
    - the constructor builds only these modules: the parent constructors
      would also build, and throw away, a ``MultiheadAttention``, a
      ``BEiTAttention`` and two FFNs per layer, which draws from the random
      generator and so would change the weights of every seeded model;
    - :meth:`init_weights` leaves the FFN to :class:`ECViT`, which
      initialises every linear layer itself (``TransformerEncoderLayer``'s
      Xavier FFN init would be overwritten).

    Args:
        embed_dims (int): The feature dimension.
        num_heads (int): Parallel attention heads.
        feedforward_channels (int): The hidden dimension of the MLP.
        init_values (float): Initial value of the layer scales ``gamma_1`` and
            ``gamma_2``; 0 disables layer scale. Defaults to 0.
        drop_rate (float): Dropout after the attention projection and MLP.
            Defaults to 0.
        attn_drop_rate (float): Dropout of the attention weights.
            Defaults to 0.
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.
        qv_bias (bool): Learn ``q_bias`` / ``v_bias``. Defaults to True.
        act_cfg (dict): MLP activation. Defaults to ``dict(type='GELU')``.
        norm_cfg (dict): Normalization layer.
            Defaults to ``dict(type='LN', eps=1e-6)``.
        init_cfg (dict, optional): Initialization config dict.
            Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 init_values: float = 0.,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qv_bias: bool = True,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[dict] = None) -> None:
        # BaseModule's constructor, not the parents' (see the class doc).
        BaseModule.__init__(self, init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.ln1 = build_norm_layer(norm_cfg, embed_dims)
        self.attn = QVBiasAttention(
            embed_dims,
            num_heads,
            qv_bias=qv_bias,
            attn_drop_rate=attn_drop_rate,
            proj_drop_rate=drop_rate)
        self.ln2 = build_norm_layer(norm_cfg, embed_dims)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer=None,
            act_cfg=act_cfg,
            add_identity=False)
        self.drop_path = DropPath(
            drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        if init_values > 0:
            self.gamma_1 = nn.Parameter(init_values * torch.ones(embed_dims))
            self.gamma_2 = nn.Parameter(init_values * torch.ones(embed_dims))
        else:
            self.gamma_1, self.gamma_2 = None, None

    def forward(self,
                x: torch.Tensor,
                rel_pos_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Forward of ``BEiTTransformerEncoderLayer``, without position bias.

        Args:
            x (torch.Tensor): Tokens, shape ``(B, N, C)``.
            rel_pos_bias (None): Kept for the parent's signature; must be
                None. Defaults to None.

        Returns:
            torch.Tensor: Shape ``(B, N, C)``.
        """
        return super().forward(x, rel_pos_bias)

    def init_weights(self) -> None:
        """Only ``init_cfg``: ECViT initialises the linear layers."""
        BaseModule.init_weights(self)

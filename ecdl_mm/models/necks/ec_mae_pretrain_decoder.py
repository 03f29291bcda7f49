# Copyright (c) ecdl_mm contributors. All rights reserved.
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.utils import build_norm_layer
from mmpretrain.registry import MODELS

from ..backbones.ec_vit_layer import ECViTLayer
from ..utils import build_1d_sincos_position_embedding


@MODELS.register_module()
class ECMAEPretrainDecoder(BaseModule):
    """The decoder of EC-DL's masked autoencoder.

    The visible tokens are projected by ``encoder_to_decoder`` (no bias),
    learnt ``mask_token`` copies stand for the masked ones, each token gets
    the decoder's own fixed 1-D sinusoid position, and after the blocks only
    the masked tokens are normalized and projected to pixels
    (``patch_size ** 2 * in_channels`` values each). Blocks are
    :class:`ECViTLayer` (``q_bias`` / ``v_bias`` attention). Unlike
    mmpretrain's ``MAEPretrainDecoder`` there is no class token and no
    prediction for visible tokens.

    Args:
        embed_dims (int): Encoder width. Defaults to 768.
        decoder_embed_dims (int): Decoder width. Defaults to 384.
        decoder_num_layers (int): Decoder blocks. Defaults to 4.
        decoder_num_heads (int): Decoder heads. Defaults to 6.
        mlp_ratio (float): MLP hidden width over decoder width.
            Defaults to 4.
        patch_size (int): Patch size. Defaults to 16.
        in_channels (int): Image channels. Defaults to 3.
        init_values (float): Layer-scale init of the blocks, 0 = off.
            Defaults to 0.
        norm_cfg (dict): Normalization layer.
            Defaults to ``dict(type='LN', eps=1e-6)``.
        init_cfg (dict, optional): Initialization config dict.
            Defaults to None.
    """

    def __init__(self,
                 embed_dims: int = 768,
                 decoder_embed_dims: int = 384,
                 decoder_num_layers: int = 4,
                 decoder_num_heads: int = 6,
                 mlp_ratio: float = 4.,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 init_values: float = 0.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('embed_dims', embed_dims), ('decoder_embed_dims',
                                                         decoder_embed_dims),
                            ('decoder_num_layers', decoder_num_layers)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f'{name}={value!r} must be a positive int')
        self.decoder_embed_dims = decoder_embed_dims
        self.encoder_to_decoder = nn.Linear(
            embed_dims, decoder_embed_dims, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dims))
        self.blocks = ModuleList([
            ECViTLayer(
                decoder_embed_dims,
                decoder_num_heads,
                int(mlp_ratio * decoder_embed_dims),
                init_values=init_values,
                norm_cfg=norm_cfg) for _ in range(decoder_num_layers)
        ])
        self.norm = build_norm_layer(norm_cfg, decoder_embed_dims)
        self.head = nn.Linear(decoder_embed_dims, patch_size**2 * in_channels)

    def init_weights(self) -> None:
        super().init_weights()
        if isinstance(self.init_cfg, dict) and \
                self.init_cfg.get('type') == 'Pretrained':
            return
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        trunc_normal_(self.mask_token, std=.02)

    def _position_table(self, num_tokens: int,
                        ref: torch.Tensor) -> torch.Tensor:
        # Cached: the table only depends on the token count.
        cached = getattr(self, '_pos_cache', None)
        if cached is None or cached.shape[1] != num_tokens or \
                cached.device != ref.device or cached.dtype != ref.dtype:
            cached = build_1d_sincos_position_embedding(
                num_tokens,
                self.decoder_embed_dims,
                dtype=ref.dtype,
                device=ref.device)
            self._pos_cache = cached
        return cached

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predict the pixels of the masked tokens.

        Args:
            x (torch.Tensor): Encoded visible tokens in ascending token
                order, shape ``(B, N_vis, C_enc)``.
            mask (torch.Tensor): Bool mask ``(B, N)``, ``True`` = masked,
                the same count per row.

        Returns:
            torch.Tensor: Predictions for the masked tokens in ascending
            token order, shape ``(B, N_mask, patch_size**2 * in_channels)``.
        """
        x = self.encoder_to_decoder(x)
        B, num_visible, D = x.shape
        N = mask.shape[1]
        num_masked = N - num_visible
        pos = self._position_table(N, x).expand(B, -1, -1)
        ids = torch.argsort(mask.to(torch.uint8), dim=1, stable=True)
        pos = torch.gather(pos, 1, ids.unsqueeze(-1).expand(-1, -1, D))
        x = torch.cat([
            x + pos[:, :num_visible],
            self.mask_token.expand(B, num_masked, -1) + pos[:, num_visible:]
        ],
                      dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x[:, num_visible:]))

# Copyright (c) ecdl_mm contributors. All rights reserved.
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmengine.model import ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.backbones.beit import BEiTViT
from mmpretrain.models.backbones.vision_transformer import VisionTransformer
from mmpretrain.models.utils import build_norm_layer
from mmpretrain.registry import MODELS

from ..utils import build_1d_sincos_position_embedding
from ..utils.ckpt_convert import convert_mmpretrain_vit_state
from .ec_vit_layer import ECViTLayer

# Keys that only mmpretrain ViT / MAE / BEiT checkpoints have (never ECViT).
_FOREIGN_SUFFIXES = ('attn.qkv.bias', 'attn.gamma1.weight',
                     'ffn.gamma2.weight')
# (mask_token: mmpretrain's DINOv2 files)
_FOREIGN_NAMES = ('cls_token', 'pos_embed', 'mask_token')


@MODELS.register_module()
class ECViT(BEiTViT):
    """The vision transformer of EC-DL.

    A ViT without class token whose position embedding is the fixed 1-D
    sinusoid table over the token index (computed for the actual patch grid, so
    any input size divisible by the patch size works, and never stored in
    checkpoints). Attention uses a ``qkv`` projection without bias plus learnt
    ``q_bias`` / ``v_bias``; blocks are pre-norm with LayerNorm eps 1e-6,
    optional layer scale and stochastic depth. The image feature is the mean of
    all tokens followed by ``fc_norm`` (stored as ``ln2``, as in mmpretrain's
    ``VisionTransformer``), which neck-free mmpretrain heads such as
    ``LinearClsHead`` and ``VisionTransformerClsHead`` consume directly.

    A :class:`BEiTViT` with no class token, so mmpretrain's accessors
    (``norm1``, ``norm2``), output formatting and layer-decay depths
    (``get_layer_depth``) apply unchanged. Differences from ``BEiTViT``:
    the fixed position table instead of a learnt one and no relative
    position bias (so its constructor, position-embedding init and
    checkpoint hooks are not used: :class:`ECViTLayer` blocks are built
    here), ``frozen_stages`` also accepts values above the depth, and
    mmpretrain ViT weights are converted while loading.

    Args:
        arch (str | dict): Architecture, one of ``'tiny'``, ``'small'``,
            ``'base'``, ``'large'`` (or ``'t'``, ``'s'``, ``'b'``, ``'l'``), or
            a dict with keys ``embed_dims``, ``num_layers``, ``num_heads`` and
            ``feedforward_channels``. Defaults to ``'base'``.
        img_size (int | tuple): The most common input size; other sizes
            divisible by ``patch_size`` work too. Defaults to 224.
        patch_size (int): The patch size. Defaults to 16.
        in_channels (int): Input channels. Defaults to 3.
        out_indices (Sequence | int): Output from which layers.
            Defaults to -1, the last layer.
        drop_rate (float): Dropout after position embedding, attention
            projection and MLP. Defaults to 0.
        attn_drop_rate (float): Dropout of the attention weights.
            Defaults to 0.
        drop_path_rate (float): Stochastic depth rate, linearly increased over
            the layers. Defaults to 0.
        init_values (float): Initial value of the layer scales; 0 disables
            layer scale. Defaults to 0.
        qv_bias (bool): Learn ``q_bias`` / ``v_bias``. Defaults to True.
        norm_cfg (dict): Normalization layer.
            Defaults to ``dict(type='LN', eps=1e-6)``.
        final_norm (bool): Normalize the tokens after the last layer
            (``ln1``). The EC-DL classifier does not (it normalizes the
            pooled feature instead); the MAE encoder does. Defaults to False.
        out_type (str): The output of each selected layer:

            - ``"avg_featmap"``: mean of the tokens, then ``fc_norm``,
              shape ``(B, C)``.
            - ``"featmap"``: the token map, shape ``(B, C, H, W)``.
            - ``"raw"``: the tokens, shape ``(B, N, C)``.

            Defaults to ``"avg_featmap"``.
        frozen_stages (int): Freeze the patch embedding and the first
            ``frozen_stages`` layers (all norms too when every layer is
            frozen); -1 freezes nothing. Defaults to -1.
        layer_cfgs (Sequence | dict): Extra configs of each
            :class:`ECViTLayer`. Defaults to an empty dict.
        init_cfg (dict, optional): Initialization config dict.
            Defaults to None.
    """
    # mmpretrain's ViT presets; 's' / 'small' are DeiT-S (384 wide, as the
    # EC-DL and timm small), not mmpretrain's 768-wide 'small'.
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'],
                        dict(VisionTransformer.arch_zoo['deit-tiny'])),
        **dict.fromkeys(['s', 'small'],
                        dict(VisionTransformer.arch_zoo['deit-small'])),
        **{
            k: dict(VisionTransformer.arch_zoo[k])
            for k in ('b', 'base', 'l', 'large')
        },
    }
    # No class token: CAM tools read this to reshape tokens into a map.
    num_extra_tokens = 0
    OUT_TYPES = {'raw', 'featmap', 'avg_featmap'}

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 out_indices: Union[Sequence[int], int] = -1,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 init_values: float = 0.,
                 qv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 final_norm: bool = False,
                 out_type: str = 'avg_featmap',
                 frozen_stages: int = -1,
                 layer_cfgs: Union[Sequence[dict], dict] = dict(),
                 init_cfg: Optional[dict] = None) -> None:
        # BaseBackbone's constructor, not BEiTViT's (see the class doc).
        BaseBackbone.__init__(self, init_cfg)
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ValueError(f'arch={arch!r} is not one of '
                                 f'{sorted(self.arch_zoo)}')
            self.arch_settings = self.arch_zoo[arch.lower()]
        else:
            essential_keys = {
                'embed_dims', 'num_layers', 'num_heads', 'feedforward_channels'
            }
            if not isinstance(arch, dict) or not essential_keys <= set(arch):
                raise ValueError(f'arch={arch!r} must be a preset name or a '
                                 f'dict with keys {sorted(essential_keys)}')
            self.arch_settings = arch
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'out_type={out_type!r} is not one of '
                             f'{sorted(self.OUT_TYPES)}')
        if not isinstance(patch_size, int) or patch_size <= 0:
            raise ValueError(
                f'patch_size={patch_size!r} must be a positive integer')
        if init_values < 0:
            raise ValueError(f'init_values={init_values} must be >= 0')

        self.embed_dims = self.arch_settings['embed_dims']
        self.num_layers = self.arch_settings['num_layers']
        self.patch_size = patch_size
        self.out_type = out_type

        self.patch_embed = PatchEmbed(
            in_channels=in_channels,
            input_size=img_size,
            embed_dims=self.embed_dims,
            conv_type='Conv2d',
            kernel_size=patch_size,
            stride=patch_size,
            # Inputs must be divisible by the patch (see ``embed``): no
            # adaptive padding, whose size arithmetic a trace would freeze.
            padding=0)
        self.patch_resolution = self.patch_embed.init_out_size
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        # Fixed table: a non-persistent buffer follows .to(device) but stays
        # out of state_dict, as in the reference checkpoints.
        self.register_buffer(
            'pos_embed',
            build_1d_sincos_position_embedding(num_patches, self.embed_dims),
            persistent=False)
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        if isinstance(out_indices, int):
            out_indices = [out_indices]
        out_indices = list(out_indices)
        for i, index in enumerate(out_indices):
            if index < 0:
                index = self.num_layers + index
            if not 0 <= index < self.num_layers:
                raise ValueError(f'out_indices={out_indices} has an index '
                                 f'outside [0, {self.num_layers})')
            out_indices[i] = index
        self.out_indices = out_indices

        # fc_norm is registered before the blocks on purpose: mmpretrain's
        # vis_cam.py (--vit-like, average pooling) targets the *last
        # registered* norm, which must be a token-level one (the last block's),
        # not this norm of the pooled (B, C) vector.
        if out_type == 'avg_featmap':
            self.ln2 = build_norm_layer(norm_cfg, self.embed_dims)

        dpr = np.linspace(0, drop_path_rate, self.num_layers)
        if isinstance(layer_cfgs, dict):
            layer_cfgs = [layer_cfgs] * self.num_layers
        self.layers = ModuleList()
        for i in range(self.num_layers):
            _layer_cfg = dict(
                embed_dims=self.embed_dims,
                num_heads=self.arch_settings['num_heads'],
                feedforward_channels=self.
                arch_settings['feedforward_channels'],
                init_values=init_values,
                drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate,
                drop_path_rate=float(dpr[i]),
                qv_bias=qv_bias,
                norm_cfg=norm_cfg)
            _layer_cfg.update(layer_cfgs[i])
            self.layers.append(ECViTLayer(**_layer_cfg))

        self.final_norm = final_norm
        if final_norm:
            self.ln1 = build_norm_layer(norm_cfg, self.embed_dims)

        self.frozen_stages = frozen_stages
        if frozen_stages > 0:
            self._freeze_stages()
        self._register_load_state_dict_pre_hook(self._convert_foreign_keys)

    @property
    def fc_norm(self):
        """The norm of the pooled feature (``fc_norm`` in EC-DL's names)."""
        return self.ln2

    def init_weights(self) -> None:
        """``init_cfg``, then (unless pretrained) :meth:`init_linear_weights`.

        ``BEiTViT.init_weights`` is skipped: it would draw the position
        table, which here is fixed.
        """
        BaseBackbone.init_weights(self)
        if isinstance(self.init_cfg, dict) and \
                self.init_cfg.get('type') == 'Pretrained':
            return
        self.init_linear_weights()

    def init_linear_weights(self) -> None:
        """Truncated-normal linear layers, as the EC-DL / BEiT ViT.

        The hook subclasses override to initialise differently (see
        ``ECMAEViT``).
        """
        for m in self.layers.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _convert_foreign_keys(self, state_dict, prefix, *args, **kwargs):
        """Accept mmpretrain ViT weights (e.g. by URL in ``init_cfg``): its
        MAE, MoCo v3 and DINOv2 checkpoints and classifiers.

        Their fused ``qkv`` bias is split into ``q_bias`` / ``v_bias`` (the
        key bias is dropped, which is exact: it adds ``q . b_k`` to every
        logit of a query, a constant the softmax removes), their layer
        scales (``attn.gamma1`` / ``ffn.gamma2``) become ``gamma_1`` /
        ``gamma_2``, and their class token, position embedding (fixed 2-D
        sin-cos for MAE / MoCo v3, learnt for DINOv2) and DINOv2's mask token
        are dropped, as ``tools/model_converters/mmpretrain_vit_to_ecvit.py``
        does. ECViT's own fixed 1-D table replaces the position embedding.
        """
        own = [k for k in state_dict if k.startswith(prefix)]
        if not any(
                k.endswith(_FOREIGN_SUFFIXES)
                or k[len(prefix):] in _FOREIGN_NAMES for k in own):
            return
        report = dict(dropped=[], warnings=[], notes=[])
        converted = convert_mmpretrain_vit_state(state_dict, prefix, report)
        for k in own:
            del state_dict[k]
        state_dict.update(converted)
        from mmengine.logging import MMLogger
        MMLogger.get_current_instance().warning(
            'ECViT converted mmpretrain ViT keys while loading: '
            f"{report['notes'] + report['dropped']}")

    def _freeze_stages(self) -> None:
        self.drop_after_pos.eval()
        self.patch_embed.eval()
        for param in self.patch_embed.parameters():
            param.requires_grad = False
        for i in range(min(self.frozen_stages, self.num_layers)):
            m = self.layers[i]
            m.eval()
            for param in m.parameters():
                param.requires_grad = False
        if self.frozen_stages >= self.num_layers:
            for name in ('ln1', 'ln2'):
                if hasattr(self, name):
                    norm = getattr(self, name)
                    norm.eval()
                    for param in norm.parameters():
                        param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.frozen_stages > 0:
            self._freeze_stages()
        return self

    def position_embedding(self, num_tokens: int,
                           ref: torch.Tensor) -> torch.Tensor:
        """The fixed table for ``num_tokens`` tokens, shape ``(1, N, C)``.

        The table of the construction size is cached; a trace (export)
        always records the computation, so that the traced model serves
        other input sizes too.
        """
        if not torch.jit.is_tracing() and \
                num_tokens == self.pos_embed.shape[1]:
            return self.pos_embed.to(ref.dtype)
        return build_1d_sincos_position_embedding(
            num_tokens, self.embed_dims, dtype=ref.dtype, device=ref.device)

    def embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch embedding plus position table.

        Args:
            x (torch.Tensor): Images, shape ``(B, C, H, W)`` with ``H`` and
                ``W`` divisible by the patch size.

        Returns:
            tuple: Tokens ``(B, N, C)`` and the patch grid ``(h, w)``.
        """
        H, W = x.shape[-2:]
        # (Under a trace the sizes are tensors and the check would freeze.)
        if not torch.jit.is_tracing() and (H % self.patch_size
                                           or W % self.patch_size):
            raise ValueError(f'input size {(H, W)} must be divisible by '
                             f'patch_size={self.patch_size}')
        x, hw = self.patch_embed(x)
        x = x + self.position_embedding(x.shape[1], x)
        return self.drop_after_pos(x), hw

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Forward.

        Args:
            x (torch.Tensor): Images, shape ``(B, C, H, W)``.

        Returns:
            tuple[torch.Tensor]: One output per ``out_indices`` entry, its
            shape set by ``out_type``.
        """
        x, hw = self.embed(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, hw))
        return tuple(outs)

# Copyright (c) ecdl_mm contributors. All rights reserved.
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from ..backbones.ec_vit import ECViT


@MODELS.register_module()
class ECMAEViT(ECViT):
    """The EC-DL ViT as MAE encoder: it runs on the visible tokens only.

    The same module (and parameter names) as :class:`ECViT`, so the encoder
    weights of an ECMAE checkpoint (``backbone.*``) load into ``ECViT`` for
    fine-tuning with no key surgery. The encoder ends with a LayerNorm
    (``ln1``, ``final_norm=True``) as in the reference MAE encoder; the
    classifier instead normalizes its pooled feature, so on loading ``ln1``
    is unused and ``ln2`` (``fc_norm``) starts fresh, as in the reference
    fine-tuning.

    Args:
        arch (str | dict): See :class:`ECViT`. Defaults to ``'base'``.
        img_size (int | tuple): Input size. Defaults to 224.
        patch_size (int): Patch size. Defaults to 16.
        mask_ratio (float): Share of tokens masked, the same count
            ``int(mask_ratio * N)`` in every image. Defaults to 0.75.
        out_type (str): Output of the unmasked forward (``mask=None``).
            Defaults to ``'raw'``.
        final_norm (bool): Normalize the encoded tokens. Defaults to True.
        **kwargs: Other arguments of :class:`ECViT`.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: int = 224,
                 patch_size: int = 16,
                 mask_ratio: float = 0.75,
                 out_type: str = 'raw',
                 final_norm: bool = True,
                 **kwargs) -> None:
        if not 0 < mask_ratio < 1:
            raise ValueError(f'mask_ratio={mask_ratio} must be in (0, 1)')
        super().__init__(
            arch=arch,
            img_size=img_size,
            patch_size=patch_size,
            out_type=out_type,
            final_norm=final_norm,
            **kwargs)
        self.mask_ratio = mask_ratio

    def init_linear_weights(self) -> None:
        """Xavier-uniform linear layers and patch projection, as the
        reference MAE encoder."""
        for m in self.layers.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        w = self.patch_embed.projection.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))

    def random_masking(self, batch_size: int, num_tokens: int,
                       device: torch.device) -> torch.Tensor:
        """A random boolean mask, ``True`` = masked, shape ``(B, N)``.

        Every row masks exactly ``int(mask_ratio * N)`` tokens.
        """
        num_mask = int(self.mask_ratio * num_tokens)
        noise = torch.rand(batch_size, num_tokens, device=device)
        ids = noise.argsort(dim=1)[:, :num_mask]
        mask = torch.zeros(
            batch_size, num_tokens, dtype=torch.bool, device=device)
        return mask.scatter_(1, ids, True)

    @staticmethod
    def check_mask(mask: torch.Tensor, batch_size: int,
                   num_tokens: int) -> torch.Tensor:
        """Validate an explicit mask; returns it as bool ``(B, N)``."""
        if mask.shape != (batch_size, num_tokens):
            raise ValueError(f'mask shape {tuple(mask.shape)} must be '
                             f'(batch, tokens) = {(batch_size, num_tokens)}')
        mask = mask.bool()
        counts = mask.sum(dim=1)
        if (counts != counts[0]).any():
            raise ValueError('every image must mask the same number of '
                             f'tokens, got counts {counts.tolist()}')
        if int(counts[0]) in (0, num_tokens):
            raise ValueError(f'mask hides {int(counts[0])} of {num_tokens} '
                             'tokens: it must keep and hide at least one')
        return mask

    def forward(
        self,
        x: torch.Tensor,
        mask: Optional[Union[bool, torch.Tensor]] = True
    ) -> Union[Tuple[torch.Tensor, ...], Tuple[torch.Tensor, torch.Tensor,
                                               torch.Tensor]]:
        """Encode the visible tokens, or the whole image.

        Args:
            x (torch.Tensor): Images, shape ``(B, C, H, W)``.
            mask (bool | torch.Tensor, optional): ``True`` draws a random
                mask; a ``(B, N)`` bool tensor (``True`` = masked, same count
                per row) is used as given; ``None`` / ``False`` runs the plain
                :class:`ECViT` forward on all tokens. Defaults to True.

        Returns:
            tuple: With a mask, ``(latent, mask, ids_restore)``: the encoded
            visible tokens ``(B, N_vis, C)`` in ascending token order, the
            bool mask ``(B, N)`` and the permutation that puts
            ``[visible, masked]`` tokens back in token order ``(B, N)``.
            Without, the outputs of :meth:`ECViT.forward`.
        """
        if mask is None or mask is False:
            return super().forward(x)
        x, _ = self.embed(x)
        B, N, C = x.shape
        if mask is True:
            mask = self.random_masking(B, N, x.device)
            # known on the host: no read back from the device mid-forward
            num_visible = N - int(self.mask_ratio * N)
        else:
            mask = self.check_mask(mask.to(x.device), B, N)
            num_visible = N - int(mask[0].sum())
        # Visible tokens first, each group in ascending token order.
        ids_shuffle = torch.argsort(mask.to(torch.uint8), dim=1, stable=True)
        ids_keep = ids_shuffle[:, :num_visible]
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, C))
        for layer in self.layers:
            x = layer(x)
        if self.final_norm:
            x = self.ln1(x)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        return x, mask, ids_restore

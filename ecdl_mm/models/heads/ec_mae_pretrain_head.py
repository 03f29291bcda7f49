# Copyright (c) ecdl_mm contributors. All rights reserved.
from typing import Dict, Optional, Tuple

import torch
from mmpretrain.models.heads import MAEPretrainHead
from mmpretrain.registry import MODELS

from ..utils import expand_ids, masked_ids, take_tokens


def _check_masked(pred: torch.Tensor, mask: torch.Tensor) -> None:
    """``pred`` must hold fewer tokens than the mask's rows (the masked
    ones only; a decoder predicting every token needs a loss over all)."""
    if pred.dim() != 3 or pred.shape[1] >= mask.shape[1] or \
            pred.shape[0] != mask.shape[0]:
        raise ValueError(
            f'pred of shape {tuple(pred.shape)} must be (B, N_mask, D) with '
            f'N_mask < N for a mask of shape {tuple(mask.shape)}: '
            'ECMAEPretrainHead takes predictions of the masked tokens only')


@MODELS.register_module()
class ECMAEPretrainHead(MAEPretrainHead):
    """Reconstruction head of EC-DL's masked autoencoder.

    Differences from mmpretrain's :class:`MAEPretrainHead`, kept on purpose
    to match the EC-DL target:

    - ``loss`` expects images **de-normalised to** ``[0, 1]`` (``ECMAE``
      does this with its data preprocessor's mean / std), not the normalised
      network input;
    - ``norm_pix`` statistics are per patch **and per channel** over the
      ``patch_size ** 2`` pixels, with the **unbiased** std and ``1e-6``
      added to the std: ``(x - mean) / (std + 1e-6)`` (mmpretrain: over all
      values of the patch, ``/ sqrt(var + 1e-6)``);
    - ``pred`` holds only the masked tokens (ascending token order), as
      :class:`ECMAEPretrainDecoder` predicts;
    - non-square images are supported;
    - an optional perceptual term (e.g. :class:`LPIPSLoss`) compares the
      reconstructed image (visible patches kept, masked patches predicted and
      de-normalised with their own patch statistics) with the original.

    Args:
        loss (dict): Pixel loss, ``PixelReconstructionLoss`` with criterion
            ``'L2'`` (MSE, default) or ``'L1'``.
        norm_pix (bool): Normalise each target patch. Defaults to True.
        patch_size (int): Patch size. Defaults to 16.
        in_channels (int): Image channels. Defaults to 3.
        perceptual_loss (dict, optional): Perceptual loss on the
            reconstructed image, e.g. ``dict(type='LPIPSLoss')``.
            Defaults to None.
    """

    def __init__(self,
                 loss: dict = dict(
                     type='PixelReconstructionLoss', criterion='L2'),
                 norm_pix: bool = True,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 perceptual_loss: Optional[dict] = None) -> None:
        if not isinstance(patch_size, int) or patch_size <= 0:
            raise ValueError(
                f'patch_size={patch_size!r} must be a positive integer')
        super().__init__(
            loss=loss,
            norm_pix=norm_pix,
            patch_size=patch_size,
            in_channels=in_channels)
        self.perceptual_loss = MODELS.build(
            perceptual_loss) if perceptual_loss is not None else None

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, L, p * p * C)``, pixel-major, RGB last."""
        p = self.patch_size
        B, C, H, W = imgs.shape
        if H % p or W % p:
            raise ValueError(f'image size {(H, W)} must be divisible by '
                             f'patch_size={p}')
        x = imgs.reshape(B, C, H // p, p, W // p, p)
        x = torch.einsum('nchpwq->nhwpqc', x)
        return x.reshape(B, (H // p) * (W // p), p * p * C)

    def unpatchify(self,
                   x: torch.Tensor,
                   hw: Tuple[int, int] = None) -> torch.Tensor:
        """``(B, L, p * p * C)`` -> ``(B, C, H, W)``; ``hw`` = patch grid."""
        p, C = self.patch_size, self.in_channels
        if hw is None:
            h = w = int(x.shape[1]**.5)
        else:
            h, w = hw
        if h * w != x.shape[1]:
            raise ValueError(f'{x.shape[1]} tokens do not fill a {h}x{w} grid')
        x = x.reshape(x.shape[0], h, w, p, p, C)
        x = torch.einsum('nhwpqc->nchpwq', x)
        return x.reshape(x.shape[0], C, h * p, w * p)

    def _patch_stats(self, patches: torch.Tensor):
        # patches: (B, L, p*p, C); statistics per patch and channel.
        mean = patches.mean(dim=-2, keepdim=True)
        std = patches.var(dim=-2, unbiased=True, keepdim=True).sqrt()
        return mean, std

    def construct_target(self, target: torch.Tensor) -> torch.Tensor:
        """Patch tokens of ``[0, 1]`` images, normalised if ``norm_pix``.

        Args:
            target (torch.Tensor): Images in ``[0, 1]``, ``(B, C, H, W)``.

        Returns:
            torch.Tensor: ``(B, L, p * p * C)``.
        """
        x = self.patchify(target)
        if not self.norm_pix:
            return x
        B, L, D = x.shape
        x = x.reshape(B, L, -1, self.in_channels)
        mean, std = self._patch_stats(x)
        return ((x - mean) / (std + 1e-6)).reshape(B, L, D)

    def reconstruct(self, pred: torch.Tensor, target: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
        """The image with masked patches replaced by the prediction.

        Args:
            pred (torch.Tensor): Predictions ``(B, N_mask, p * p * C)``.
            target (torch.Tensor): Original images in ``[0, 1]``.
            mask (torch.Tensor): Bool mask ``(B, N)``.

        Returns:
            torch.Tensor: Images ``(B, C, H, W)``, differentiable in ``pred``.
        """
        _check_masked(pred, mask)
        p = self.patch_size
        patches = self.patchify(target)
        B, L, D = patches.shape
        patches = patches.reshape(B, L, -1, self.in_channels)
        pred = pred.reshape(B, -1, p * p, self.in_channels)
        ids = masked_ids(mask, pred.shape[1])
        if self.norm_pix:
            mean, std = self._patch_stats(patches)
            pred = pred * (take_tokens(std, ids) + 1e-6) + \
                take_tokens(mean, ids)
        full = patches.scatter(1, expand_ids(ids, patches),
                               pred.to(patches.dtype))
        hw = (target.shape[2] // p, target.shape[3] // p)
        return self.unpatchify(full.reshape(B, L, D), hw)

    def loss(self, pred: torch.Tensor, target: torch.Tensor,
             mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Losses on the masked tokens.

        Args:
            pred (torch.Tensor): Predictions for the masked tokens,
                ``(B, N_mask, p * p * C)``, ascending token order.
            target (torch.Tensor): Original images in ``[0, 1]``,
                ``(B, C, H, W)``.
            mask (torch.Tensor): Bool mask ``(B, N)``, ``True`` = masked.

        Returns:
            dict[str, torch.Tensor]: ``loss_rec`` and, with a perceptual
            loss, ``loss_perceptual``.
        """
        _check_masked(pred, mask)
        tokens = self.construct_target(target)
        target_masked = take_tokens(tokens, masked_ids(mask, pred.shape[1]))
        losses = dict(loss_rec=self.loss_module(pred, target_masked))
        if self.perceptual_loss is not None:
            recon = self.reconstruct(pred, target, mask)
            losses['loss_perceptual'] = self.perceptual_loss(recon, target)
        return losses

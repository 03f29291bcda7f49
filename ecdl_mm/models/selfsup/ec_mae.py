# Copyright (c) ecdl_mm contributors. All rights reserved.
from typing import Dict, List

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup import MAE
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class ECMAE(MAE):
    """EC-DL's masked autoencoder (in-domain pre-training).

    ``backbone`` (:class:`ECMAEViT`) encodes the visible tokens, ``neck``
    (:class:`ECMAEPretrainDecoder`) predicts the masked ones, ``head``
    (:class:`ECMAEPretrainHead`) builds the ``norm_pix`` target from the
    image de-normalised to ``[0, 1]`` and computes the losses.

    With ``num_masks=2`` each image is encoded under two independent random
    masks (one batched forward); both reconstructions are trained and an
    alignment term ``align_weight * (1 - cos(z_a, z_b))`` pulls together the
    mean-pooled encodings ``z`` of the two masked views.

    Args:
        backbone (dict): Encoder config.
        neck (dict): Decoder config.
        head (dict): Head config.
        num_masks (int): 1 (plain MAE) or 2 (two-mask variant).
            Defaults to 1.
        align_weight (float): Weight of the alignment term (``num_masks=2``).
            Defaults to 1.
        **kwargs: Other arguments of :class:`BaseSelfSupervisor`
            (``data_preprocessor``, ``init_cfg``, ...).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 num_masks: int = 1,
                 align_weight: float = 1.0,
                 **kwargs) -> None:
        if num_masks not in (1, 2):
            raise ValueError(f'num_masks={num_masks!r} must be 1 or 2')
        if align_weight < 0:
            raise ValueError(f'align_weight={align_weight} must be >= 0')
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self.num_masks = num_masks
        self.align_weight = align_weight

    def to_unit_range(self, inputs: torch.Tensor) -> torch.Tensor:
        """Undo the data preprocessor's normalisation: images in ``[0, 1]``."""
        dp = self.data_preprocessor
        if getattr(dp, '_enable_normalize', False):
            inputs = inputs * dp.std + dp.mean
        return inputs / 255.

    def reconstruct(self, inputs: torch.Tensor, mask=True):
        """Reconstruct images (for visualisation).

        Args:
            inputs (torch.Tensor): Normalised images ``(B, C, H, W)``.
            mask (bool | torch.Tensor): ``True`` for a random mask, or an
                explicit bool ``(B, N)`` mask. Defaults to True.

        Returns:
            tuple: ``(images, reconstructions, mask)``, images in ``[0, 1]``.
        """
        latent, mask, _ = self.backbone(inputs, mask=mask)
        pred = self.neck(latent, mask)
        images = self.to_unit_range(inputs)
        return images, self.head.reconstruct(pred, images, mask), mask

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Reconstruction (and alignment) losses of a batch.

        Args:
            inputs (torch.Tensor): Normalised images ``(B, C, H, W)``.
            data_samples (List[DataSample]): Unused.
            mask (torch.Tensor, optional): Explicit bool mask
                ``(B * num_masks, N)``, passed as keyword.

        Returns:
            dict[str, torch.Tensor]: ``loss_rec`` (plus ``loss_perceptual``,
            ``loss_align`` when enabled).
        """
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        if self.num_masks == 2:
            inputs = torch.cat([inputs, inputs])
        latent, mask, _ = self.backbone(inputs, mask=kwargs.get('mask', True))
        pred = self.neck(latent, mask)
        losses = self.head.loss(pred, self.to_unit_range(inputs), mask)
        if self.num_masks == 2:
            z_a, z_b = latent.mean(dim=1).chunk(2)
            losses['loss_align'] = self.align_weight * (
                1 - F.cosine_similarity(z_a, z_b, dim=-1)).mean()
        return losses

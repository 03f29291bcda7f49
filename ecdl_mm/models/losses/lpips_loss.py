# Copyright (c) ecdl_mm contributors. All rights reserved.
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS


@MODELS.register_module()
class LPIPSLoss(nn.Module):
    """LPIPS perceptual distance (Zhang et al. 2018) as a frozen loss.

    A thin wrapper of the ``lpips`` package (``pip install lpips``). The
    network is frozen and deliberately not registered as a sub-module: its
    weights stay out of checkpoints and out of DDP's parameter list; it
    follows the input's device at each call.

    Args:
        net (str): Trunk, ``'vgg'`` (EC-DL), ``'alex'`` or ``'squeeze'``.
            Defaults to ``'vgg'``.
        pretrained_trunk (bool): Load the ImageNet trunk from torchvision
            (downloaded on first use, so prepare the cache on machines
            without internet). ``False`` gives a randomly initialised trunk,
            used by the tests. Defaults to True.
        pretrained_lin (bool): Load the calibrated linear layers shipped in
            the ``lpips`` package. Defaults to True.
        loss_weight (float): Multiplier of the loss. Defaults to 1.

    Inputs are images in ``[0, 1]``, shape ``(B, 3, H, W)``; the loss is the
    batch mean of the per-image distances.
    """

    def __init__(self,
                 net: str = 'vgg',
                 pretrained_trunk: bool = True,
                 pretrained_lin: bool = True,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if net not in ('vgg', 'alex', 'squeeze'):
            raise ValueError(f"net={net!r} must be 'vgg', 'alex' or "
                             "'squeeze'")
        try:
            import lpips
        except ImportError as e:
            raise ImportError('LPIPSLoss needs the `lpips` package: '
                              'pip install lpips') from e
        model = lpips.LPIPS(
            net=net,
            pretrained=pretrained_lin,
            pnet_rand=not pretrained_trunk,
            verbose=False).eval()
        model.requires_grad_(False)
        # Kept outside nn.Module registration on purpose (see docstring).
        object.__setattr__(self, '_lpips', model)
        self.loss_weight = loss_weight

    @property
    def lpips_net(self) -> nn.Module:
        return self._lpips

    def forward(self, pred: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Loss between ``pred`` and ``target`` images in ``[0, 1]``."""
        net = self._lpips.to(device=pred.device)
        dist = net(pred.float(), target.float(), normalize=True)
        return self.loss_weight * dist.mean()

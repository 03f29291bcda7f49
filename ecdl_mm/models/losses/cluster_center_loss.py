from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.losses.utils import weight_reduce_loss
from mmpretrain.registry import MODELS


def cluster_center_loss(feats: torch.Tensor,
                        centers: torch.Tensor,
                        target: torch.Tensor,
                        valid: Optional[torch.Tensor] = None,
                        temperature: float = 0.07,
                        eps: float = 1e-8):
    r"""Element-wise supervised clustering (class-centre) loss of EC-DL.

    With :math:`d(f, c) = 1 - \cos(f, c)`, the loss of a feature :math:`f` of
    class :math:`y` is the share of its own centre's term in the sum over
    all class centres:

    .. math::
        \ell(f) = \frac{\exp(d(f, c_y) / \tau)}
                       {\sum_k \exp(d(f, c_k) / \tau)}

    which is small when the feature sits at its own centre and far from the
    others. It is computed for the whole batch at once (one matrix product
    and a softmax), so gradients flow to ``feats``.

    Soft targets (label smoothing done upstream, mixup/cutmix ``gt_score``)
    give the expectation :math:`\sum_k t_k\,\mathrm{softmax}(d/\tau)_k`,
    which equals the formula above for one-hot targets.

    Args:
        feats (torch.Tensor): Features of shape ``(N, C)``.
        centers (torch.Tensor): Class centres of shape ``(K, C)``. Treated as
            constants (no gradient is sent to them).
        target (torch.Tensor): Class indices of shape ``(N, )`` or scores of
            shape ``(N, K)``.
        valid (torch.Tensor, optional): Bool mask of shape ``(K, )``; centres
            marked False are left out of the sum, and the target mass on them
            is dropped. Defaults to None (all centres valid).
        temperature (float): Temperature :math:`\tau`. Defaults to 0.07.
        eps (float): Guards the renormalisation of the target mass.
            Defaults to 1e-8.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: The per-sample loss of shape
        ``(N, )`` and the per-sample weight of shape ``(N, )`` (0 for samples
        whose target lies only on invalid centres, else 1).
    """
    num_classes = centers.size(0)
    if target.dim() == 1 or (target.dim() == 2 and target.size(1) == 1):
        # F.one_hot directly: mmpretrain's convert_to_one_hot syncs the
        # device with an .item() check on every call.
        target = F.one_hot(target.view(-1).long(), num_classes)
    target = target.to(feats.dtype)

    cos = F.normalize(feats, dim=1, eps=eps) @ F.normalize(
        centers.detach().to(feats.dtype), dim=1, eps=eps).t()
    logits = (1. - cos) / temperature
    if valid is not None:
        valid = valid.to(device=feats.device, dtype=torch.bool)
        logits = logits.masked_fill(~valid, float('-inf'))
        target = target * valid.to(target.dtype)
    share = logits.softmax(dim=1)
    if valid is not None:
        # softmax gives exact 0 on masked columns; nan cannot appear as long
        # as one centre is valid, which the caller guarantees.
        share = share.masked_fill(~valid, 0.)
    mass = target.sum(dim=1)
    loss = (share * target).sum(dim=1) / mass.clamp_min(eps)
    weight = (mass > eps).to(loss.dtype)
    return loss * weight, weight


@MODELS.register_module()
class ClusterCenterLoss(nn.Module):
    r"""Supervised deep clustering loss of EC-DL (pull features to their
    class centre, push them from the other centres).

    See :func:`cluster_center_loss` for the formula. Unlike the released
    EC-DL code, which summed this term through Python floats, the loss here
    is a differentiable tensor expression.

    Args:
        temperature (float): Temperature :math:`\tau` of the distances.
            Defaults to 0.07.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Weight :math:`\lambda` of the loss.
            Defaults to 1.0.
    """

    def __init__(self,
                 temperature: float = 0.07,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if not temperature > 0:
            raise ValueError(
                f'temperature={temperature} must be a positive number')
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'reduction={reduction!r} must be one of '
                             "'none', 'mean', 'sum'")
        if loss_weight < 0:
            raise ValueError(
                f'loss_weight={loss_weight} must be non-negative')
        self.temperature = temperature
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                feats: torch.Tensor,
                centers: torch.Tensor,
                target: torch.Tensor,
                valid: Optional[torch.Tensor] = None,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            feats (torch.Tensor): Pooled features of shape ``(N, C)``.
            centers (torch.Tensor): Class centres of shape ``(K, C)``.
            target (torch.Tensor): Class indices ``(N, )`` or scores
                ``(N, K)``.
            valid (torch.Tensor, optional): Bool mask ``(K, )`` of the
                centres that exist. Defaults to None (all).
            weight (torch.Tensor, optional): Sample weights ``(N, )``.
                Defaults to None.
            avg_factor (float, optional): Divisor of the mean. Defaults to
                None, which means the number of samples whose target lies on
                a valid centre.
            reduction_override (str, optional): Overrides ``reduction``.
                Defaults to None.

        Returns:
            torch.Tensor: The weighted loss.
        """
        if feats.dim() != 2 or centers.dim() != 2 \
                or feats.size(1) != centers.size(1):
            raise ValueError(
                f'feats of shape {tuple(feats.shape)} and centers of shape '
                f'{tuple(centers.shape)} must be (N, C) and (K, C)')
        if valid is not None and not bool(valid.any()):
            raise ValueError('valid marks no centre as valid; the loss '
                             'needs at least one class centre')
        reduction = reduction_override or self.reduction
        loss, sample_weight = cluster_center_loss(
            feats, centers, target, valid=valid,
            temperature=self.temperature)
        if weight is not None:
            sample_weight = sample_weight * weight.to(loss.dtype)
        if avg_factor is None and reduction == 'mean':
            avg_factor = sample_weight.sum().clamp_min(1.)
        loss = weight_reduce_loss(
            loss, weight=weight, reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss

# Copyright (c) ecdl_mm contributors. All rights reserved.
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.losses.utils import weight_reduce_loss
from mmpretrain.registry import MODELS

FORMS = ('proto', 'ecdl')


def cluster_center_loss(feats: torch.Tensor,
                        centers: torch.Tensor,
                        target: torch.Tensor,
                        valid: Optional[torch.Tensor] = None,
                        temperature: float = 0.07,
                        form: str = 'ecdl',
                        eps: float = 1e-8):
    r"""Element-wise supervised clustering (class-centre) loss.

    With :math:`d(f, c) = 1 - \cos(f, c)` and temperature :math:`\tau`, the
    loss of a feature :math:`f` of class :math:`y` is, by ``form``:

    - ``'proto'``, the prototype cross-entropy (cross-entropy of a
      nearest-centre classifier whose logits are :math:`-d/\tau`):

      .. math::
          \ell(f) = -\log \frac{\exp(-d(f, c_y) / \tau)}
                               {\sum_k \exp(-d(f, c_k) / \tau)}

      Its gradient w.r.t. :math:`\cos(f, c_y)` is
      :math:`-(1 - p_y) / \tau` and w.r.t. :math:`\cos(f, c_k)`,
      :math:`k \ne y`, is :math:`p_k / \tau` (:math:`p` the softmax above):
      it pulls the feature to its own centre and pushes it from the
      centres that are near it, with a strength that only vanishes once
      the own centre clearly wins.

    - ``'ecdl'``, the term of the released EC-DL code, the share of the own
      centre's term in a softmax over :math:`+d/\tau`:

      .. math::
          \ell(f) = \frac{\exp(d(f, c_y) / \tau)}
                         {\sum_k \exp(d(f, c_k) / \tau)}

      It saturates: a softmax over :math:`+d/\tau` only sees the farthest
      centre. With 3 orthonormal centres and :math:`\tau = 0.07`, a
      feature between its own centre and a wrong one (the third centre
      farther) has loss ~1e-4 and gradient norm ~1e-3; a feature opposite
      its own centre has loss ~1 and gradient norm ~1e-5. Its gradient
      scales with :math:`s_y (1 - s_y)` (:math:`s` the softmax above), so
      only a feature whose distance to its own centre is within a few
      :math:`\tau` of its largest distance to a wrong centre gets one. The
      release computed this term on Python floats, so no gradient reached
      the network at all; here it is a differentiable tensor expression,
      kept for fidelity.

    Both are computed for the whole batch at once (one matrix product and a
    softmax), so gradients flow to ``feats``; ``centers`` are constants.

    Soft targets :math:`t` (mixup/cutmix ``gt_score``) give the expectation
    over classes, :math:`\sum_k t_k \ell_k(f)` with :math:`\ell_k` the loss
    for class :math:`k`, which equals the formulas above for one-hot targets.

    Args:
        feats (torch.Tensor): Features of shape ``(N, C)``.
        centers (torch.Tensor): Class centres of shape ``(K, C)``. Treated as
            constants (no gradient is sent to them).
        target (torch.Tensor): Class indices of shape ``(N, )`` or scores of
            shape ``(N, K)``.
        valid (torch.Tensor, optional): Bool mask of shape ``(K, )``; centres
            marked False are left out of the softmax, and the target mass on
            them is dropped (the rest is renormalised). Defaults to None (all
            centres valid).
        temperature (float): Temperature :math:`\tau`. Defaults to 0.07.
        form (str): ``'proto'`` or ``'ecdl'`` (see above).
            Defaults to 'ecdl'.
        eps (float): Guards the normalisations. Defaults to 1e-8.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: The per-sample loss of shape
        ``(N, )`` and the per-sample weight of shape ``(N, )`` (0 for samples
        whose target lies only on invalid centres, else 1).
    """
    if form not in FORMS:
        raise ValueError(f'form={form!r} must be one of {FORMS}')
    num_classes = centers.size(0)
    if target.dim() == 1 or (target.dim() == 2 and target.size(1) == 1):
        # F.one_hot directly: mmpretrain's convert_to_one_hot syncs the
        # device with an .item() check on every call.
        target = F.one_hot(target.view(-1).long(), num_classes)
    target = target.to(feats.dtype)

    cos = F.normalize(
        feats, dim=1, eps=eps) @ F.normalize(
            centers.detach().to(feats.dtype), dim=1, eps=eps).t()
    dist = 1. - cos
    logits = (-dist if form == 'proto' else dist) / temperature
    if valid is not None:
        valid = valid.to(device=feats.device, dtype=torch.bool)
        logits = logits.masked_fill(~valid, float('-inf'))
        target = target * valid.to(target.dtype)
    if form == 'proto':
        per_class = -logits.log_softmax(dim=1)
    else:
        per_class = logits.softmax(dim=1)
    if valid is not None:
        # Masked columns hold inf (proto) or exact 0 (ecdl); zero them so
        # that 0 * inf never turns into nan. At least one centre is valid,
        # which the caller guarantees.
        per_class = per_class.masked_fill(~valid, 0.)
    mass = target.sum(dim=1)
    loss = (per_class * target).sum(dim=1) / mass.clamp_min(eps)
    weight = (mass > eps).to(loss.dtype)
    return loss * weight, weight


@MODELS.register_module()
class ClusterCenterLoss(nn.Module):
    r"""Supervised deep clustering (class-centre) loss of EC-DL.

    The term added to cross-entropy by :class:`SupervisedClusteringHead`,
    on the distances :math:`d(f, c_k) = 1 - \cos(f, c_k)` of each pooled
    feature to the class centres (see :func:`cluster_center_loss` for the
    formulas and their gradients):

    - ``form='proto'``: prototype cross-entropy
      :math:`-\log \mathrm{softmax}(-d(f, c) / \tau)_y`. It pulls every
      feature towards its own class centre and pushes it from the nearby
      wrong centres, with a gradient that does not vanish while the feature
      is nearer a wrong centre.
    - ``form='ecdl'``: the released EC-DL term, the share of
      :math:`\exp(+d(f, c_y) / \tau)` in
      :math:`\sum_k \exp(+d(f, c_k) / \tau)`. It saturates: a softmax over
      :math:`+d/\tau` only sees the farthest centre, so a feature gets a
      sizeable gradient only when the distance to its own centre is within
      a few :math:`\tau` of its largest distance to a wrong centre: e.g.
      a feature between its own and a wrong centre (another centre
      farther) or opposite its own centre is left where it is. The release
      computed it on Python floats, so no gradient reached the network: the
      published EC-DL model effectively trained with cross-entropy alone.
      Here it is differentiable, kept for fidelity and comparison.

    Args:
        temperature (float): Temperature :math:`\tau` of the distances.
            Defaults to 0.07.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Weight :math:`\lambda` of the loss.
            Defaults to 1.0.
        form (str): ``'proto'`` or ``'ecdl'``. Defaults to 'ecdl', chosen
            by ``benchmarks/bench_clustering_learning.py`` (see the README).
    """

    def __init__(self,
                 temperature: float = 0.07,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 form: str = 'ecdl'):
        super().__init__()
        if not temperature > 0:
            raise ValueError(
                f'temperature={temperature} must be a positive number')
        if form not in FORMS:
            raise ValueError(f'form={form!r} must be one of {FORMS}')
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'reduction={reduction!r} must be one of '
                             "'none', 'mean', 'sum'")
        if loss_weight < 0:
            raise ValueError(f'loss_weight={loss_weight} must be non-negative')
        self.temperature = temperature
        self.form = form
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
            feats,
            centers,
            target,
            valid=valid,
            temperature=self.temperature,
            form=self.form)
        if weight is not None:
            sample_weight = sample_weight * weight.to(loss.dtype)
        if avg_factor is None and reduction == 'mean':
            avg_factor = sample_weight.sum().clamp_min(1.)
        loss = weight_reduce_loss(
            loss, weight=weight, reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss

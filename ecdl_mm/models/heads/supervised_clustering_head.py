# Copyright (c) ecdl_mm contributors. All rights reserved.
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.models.losses import LabelSmoothLoss
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class SupervisedClusteringHead(LinearClsHead):
    """Linear classifier head with EC-DL's supervised deep clustering loss.

    A :class:`mmpretrain.models.heads.LinearClsHead` (one linear layer on the
    pooled feature; prediction and the CE / accuracy path are inherited)
    whose training loss is

    ``loss = CE(fc(f), y) + lambda * center_loss(f, centers, y)``

    where ``f`` is the pooled feature the head receives (``feats[-1]``, e.g.
    the ``fc_norm`` output of ECViT, the ``GlobalAveragePooling`` output
    after a ResNet or the ``avg_featmap`` / ``cls_token`` of mmpretrain's
    VisionTransformer) and ``lambda`` is the ``loss_weight`` of
    ``center_loss``. What the centre term does depends on its ``form`` (see
    :class:`ClusterCenterLoss`): ``'proto'`` (prototype cross-entropy on
    the cosine distances to the centres) pulls each feature towards its
    class centre and pushes it from nearby wrong centres; ``'ecdl'``, the
    released EC-DL term and the default (it ranked lesions better than
    ``'proto'`` in ``benchmarks/bench_clustering_learning.py``), saturates
    and moves only features whose own centre is about as far as the
    farthest wrong one.

    The class centres live in the head as buffers, so checkpoints carry them
    and a resumed run continues exactly:

    - ``centers`` (``(num_classes, in_channels)``): the class centres.
    - ``centers_valid`` (``(num_classes, )``, bool): which centres exist.

    The head does not compute the centres: :class:`ClassCenterHook` reads the
    features of each training batch from :attr:`last_feats` and
    :attr:`last_labels` (detached; set by :meth:`loss`), and writes the
    centres with :meth:`set_centers` at the end of each epoch. While no centre
    is valid (epoch 0) the loss is plain CE and ``loss_center`` is logged as
    0.

    Without the hook the centres would never be set and the model would
    silently train with CE alone. So in training mode each call of
    :meth:`loss` requires the previous batch's :attr:`last_feats` to have
    been consumed (reset to None, as the hook does after banking them): the
    second training step of a run without the hook raises a
    ``RuntimeError`` that names the missing ``ClassCenterHook``. This holds
    under any runner (ours, mmpretrain's ``tools/train.py``, a custom loop);
    code that banks the features itself must reset ``last_feats`` the same
    way. In eval mode the features are not kept.

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Number of channels of the pooled feature.
        loss (dict): Config of the classification loss, e.g.
            ``dict(type='LabelSmoothLoss', label_smooth_val=0.1)``.
            Defaults to ``dict(type='CrossEntropyLoss', loss_weight=1.0)``.
        center_loss (dict): Config of the centre loss.
            Defaults to ``dict(type='ClusterCenterLoss', temperature=0.07,
            loss_weight=1.0)``, i.e. the loss's default ``form``.
        topk (int | Tuple[int]): Top-k accuracy. Defaults to ``(1, )``.
        cal_acc (bool): Whether to calculate accuracy during training.
            Defaults to False.
        init_cfg (dict, optional): The initialization config. Defaults to
            ``dict(type='Normal', layer='Linear', std=0.01)``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 center_loss: dict = dict(
                     type='ClusterCenterLoss',
                     temperature=0.07,
                     loss_weight=1.0),
                 **kwargs):
        if not isinstance(in_channels, int) or in_channels <= 0:
            raise ValueError(
                f'in_channels={in_channels} must be a positive integer')
        super().__init__(
            num_classes=num_classes, in_channels=in_channels, **kwargs)
        if not isinstance(center_loss, nn.Module):
            center_loss = MODELS.build(center_loss)
        self.center_loss_module = center_loss
        self.register_buffer('centers', torch.zeros(num_classes, in_channels))
        self.register_buffer('centers_valid',
                             torch.zeros(num_classes, dtype=torch.bool))
        # How many centres exist, known on the host so that the training
        # step never waits on the device to ask (None: read it once).
        self._num_valid: Optional[int] = None
        # Set by ``loss`` on every training batch for ClassCenterHook.
        self.last_feats: Optional[torch.Tensor] = None
        self.last_labels: Optional[torch.Tensor] = None

    @torch.no_grad()
    def set_centers(self,
                    centers: torch.Tensor,
                    valid: Optional[torch.Tensor] = None) -> None:
        """Overwrite the class centres (used by ``ClassCenterHook``).

        Args:
            centers (torch.Tensor): New centres, shape
                ``(num_classes, in_channels)``.
            valid (torch.Tensor, optional): Bool mask ``(num_classes, )`` of
                the centres that exist. Defaults to None (all valid).
        """
        if tuple(centers.shape) != tuple(self.centers.shape):
            raise ValueError(
                f'centers of shape {tuple(centers.shape)} must have shape '
                f'{tuple(self.centers.shape)}')
        self.centers.copy_(centers)
        if valid is None:
            self.centers_valid.fill_(True)
        else:
            self.centers_valid.copy_(valid)
        self._num_valid = None

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._num_valid = None  # centres_valid may have been loaded

    @property
    def num_valid_centers(self) -> int:
        """How many class centres exist (read from the device once after
        each :meth:`set_centers` or checkpoint load, not every step; moving
        or casting the head changes no value)."""
        if self._num_valid is None:
            self._num_valid = int(self.centers_valid.sum())
        return self._num_valid

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample], **kwargs) -> dict:
        """``ClsHead._get_loss``, except that hard labels reach
        ``LabelSmoothLoss`` as one-hot rows made on the device: its own
        conversion checks the labels with ``.item()``, a host sync in every
        training forward on a GPU (the only one; the values are the same).
        An out-of-range label still fails (``scatter_``'s index check)."""
        if 'gt_score' in data_samples[0] or self.cal_acc or \
                not isinstance(self.loss_module, LabelSmoothLoss):
            return super()._get_loss(cls_score, data_samples, **kwargs)
        target = torch.cat([i.gt_label for i in data_samples])
        target = target.to(cls_score.device).view(-1, 1).long()
        one_hot = cls_score.new_zeros(
            cls_score.shape, dtype=torch.float32).scatter_(1, target, 1.)
        return dict(
            loss=self.loss_module(
                cls_score, one_hot, avg_factor=cls_score.size(0), **kwargs))

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """CE (and accuracy) as :class:`ClsHead`, plus the centre loss.

        ``ClsHead.loss`` never exposes the pooled feature to ``_get_loss``, so
        this computes it once, lets ``ClsHead._get_loss`` unpack the targets
        for CE and accuracy, and adds the centre term here. ``ClsHead``
        unpacks inline and returns only the losses, so the centre term reads
        the targets again, with a rule ``ClsHead`` lacks (the hard label to
        bank). Hard labels
        (``gt_label``) are banked; with batch augmentations that only give
        ``gt_score`` the arg-max class is banked and the centre loss uses the
        score as a soft target.

        Args:
            feats (tuple[Tensor]): Features from the backbone / neck; the
                last one, of shape ``(B, C)``, is used.
            data_samples (List[DataSample]): Annotations of the batch.
            **kwargs: Other keyword arguments of the CE loss module.

        Returns:
            dict[str, Tensor]: ``loss`` (CE), ``loss_center`` (already
            multiplied by lambda) and optional accuracies.
        """
        if self.training and self.last_feats is not None:
            raise RuntimeError(
                'SupervisedClusteringHead: the features of the previous '
                'training batch were never banked, so the class centres can '
                'never be computed and the centre loss would stay 0 (plain '
                'cross-entropy). ClassCenterHook is missing: add '
                "custom_hooks = [dict(type='ClassCenterHook')] to the config "
                '(code that banks the features itself must set '
                'head.last_feats = None after reading them).')
        pre_logits = self.pre_logits(feats)
        losses = self._get_loss(self.fc(pre_logits), data_samples, **kwargs)

        if 'gt_score' in data_samples[0]:
            target = torch.stack([i.gt_score for i in data_samples])
            hard = (
                torch.cat([i.gt_label for i in data_samples])
                if 'gt_label' in data_samples[0] else target.argmax(1))
        else:
            target = hard = torch.cat([i.gt_label for i in data_samples])
        target = target.to(pre_logits.device)
        num_valid = self.num_valid_centers
        if num_valid:
            # All centres exist (every epoch after the first, when each
            # class was seen): no mask, so no check of it on the device.
            valid = None if num_valid == self.num_classes \
                else self.centers_valid
            losses['loss_center'] = self.center_loss_module(
                pre_logits, self.centers, target, valid=valid)
        else:
            # Epoch 0: no centres yet, plain cross-entropy.
            losses['loss_center'] = pre_logits.new_zeros(())

        if self.training:
            self.last_feats = pre_logits.detach()
            self.last_labels = hard.detach().to(pre_logits.device).view(-1)
        return losses

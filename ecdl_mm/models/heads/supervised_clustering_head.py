from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class SupervisedClusteringHead(ClsHead):
    """Linear classifier head with EC-DL's supervised deep clustering loss.

    The head is a :class:`mmpretrain.models.heads.LinearClsHead` (one linear
    layer on the pooled feature) whose training loss is

    ``loss = CE(fc(f), y) + lambda * center_loss(f, centers, y)``

    where ``f`` is the pooled feature the head receives (``feats[-1]``, e.g.
    the ``fc_norm`` output of ECViT, the ``GlobalAveragePooling`` output
    after a ResNet or the ``avg_featmap`` / ``cls_token`` of mmpretrain's
    VisionTransformer) and ``lambda`` is the ``loss_weight`` of
    ``center_loss``.

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

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Number of channels of the pooled feature.
        loss (dict): Config of the classification loss, e.g.
            ``dict(type='LabelSmoothLoss', label_smooth_val=0.1)``.
            Defaults to ``dict(type='CrossEntropyLoss', loss_weight=1.0)``.
        center_loss (dict): Config of the centre loss.
            Defaults to ``dict(type='ClusterCenterLoss', temperature=0.07,
            loss_weight=1.0)``.
        topk (int | Tuple[int]): Top-k accuracy. Defaults to ``(1, )``.
        cal_acc (bool): Whether to calculate accuracy during training.
            Defaults to False.
        init_cfg (dict, optional): The initialization config. Defaults to
            ``dict(type='Normal', layer='Linear', std=0.01)``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 center_loss: dict = dict(
                     type='ClusterCenterLoss',
                     temperature=0.07,
                     loss_weight=1.0),
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01),
                 **kwargs):
        super().__init__(loss=loss, init_cfg=init_cfg, **kwargs)
        if not isinstance(num_classes, int) or num_classes <= 0:
            raise ValueError(
                f'num_classes={num_classes} must be a positive integer')
        if not isinstance(in_channels, int) or in_channels <= 0:
            raise ValueError(
                f'in_channels={in_channels} must be a positive integer')
        self.num_classes = num_classes
        self.in_channels = in_channels

        self.fc = nn.Linear(in_channels, num_classes)
        if not isinstance(center_loss, nn.Module):
            center_loss = MODELS.build(center_loss)
        self.center_loss_module = center_loss

        self.register_buffer('centers', torch.zeros(num_classes, in_channels))
        self.register_buffer('centers_valid',
                             torch.zeros(num_classes, dtype=torch.bool))
        # Set by ``loss`` on every training batch for ClassCenterHook.
        self.last_feats: Optional[torch.Tensor] = None
        self.last_labels: Optional[torch.Tensor] = None

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Return the pooled feature of the last stage, shape ``(B, C)``."""
        return feats[-1]

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Classification scores of shape ``(B, num_classes)``."""
        return self.fc(self.pre_logits(feats))

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

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """Compute the CE and centre losses.

        Same as :meth:`ClsHead.loss`, except that the pooled feature is
        passed on to :meth:`_get_loss`, which needs it for the centre term.

        Args:
            feats (tuple[Tensor]): Features from the backbone / neck; the
                last one, of shape ``(B, C)``, is used.
            data_samples (List[DataSample]): Annotations of the batch.
            **kwargs: Other keyword arguments of the CE loss module.

        Returns:
            dict[str, Tensor]: ``loss`` (CE), ``loss_center`` (already
            multiplied by lambda) and optional accuracies.
        """
        pre_logits = self.pre_logits(feats)
        cls_score = self.fc(pre_logits)
        return self._get_loss(
            cls_score, data_samples, pre_logits=pre_logits, **kwargs)

    def _get_loss(self,
                  cls_score: torch.Tensor,
                  data_samples: List[DataSample],
                  pre_logits: Optional[torch.Tensor] = None,
                  **kwargs) -> dict:
        """Unpack targets, compute CE + centre loss, keep the batch features.

        Hard labels (``gt_label``) are banked; with batch augmentations that
        only provide ``gt_score`` the arg-max class is banked, and the centre
        loss uses the score as a soft target.
        """
        if pre_logits is None:
            raise ValueError('SupervisedClusteringHead needs the pooled '
                             'feature; call `loss`, not `_get_loss`, directly')
        if 'gt_score' in data_samples[0]:
            target = torch.stack([i.gt_score for i in data_samples])
            if 'gt_label' in data_samples[0]:
                hard = torch.cat([i.gt_label for i in data_samples])
            else:
                hard = target.argmax(dim=1)
        else:
            target = torch.cat([i.gt_label for i in data_samples])
            hard = target
        target = target.to(cls_score.device)

        losses = dict()
        losses['loss'] = self.loss_module(
            cls_score, target, avg_factor=cls_score.size(0), **kwargs)

        if bool(self.centers_valid.any()):
            losses['loss_center'] = self.center_loss_module(
                pre_logits, self.centers, target, valid=self.centers_valid)
        else:
            # Epoch 0: no centres yet, plain cross-entropy.
            losses['loss_center'] = cls_score.new_zeros(())

        self.last_feats = pre_logits.detach()
        self.last_labels = hard.detach().to(pre_logits.device).view(-1)

        if self.cal_acc:
            assert target.ndim == 1, 'If you enable batch augmentation ' \
                'like mixup during training, `cal_acc` is pointless.'
            acc = Accuracy.calculate(cls_score, target, topk=self.topk)
            losses.update(
                {f'accuracy_top-{k}': a
                 for k, a in zip(self.topk, acc)})
        return losses

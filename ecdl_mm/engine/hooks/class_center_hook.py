# Copyright (c) ecdl_mm contributors. All rights reserved.
import warnings
from typing import Optional, Sequence, Tuple

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from ecdl_mm.models.heads.supervised_clustering_head import \
    SupervisedClusteringHead


def class_sums(feats: torch.Tensor, labels: torch.Tensor,
               num_classes: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-class sums and counts of features, one ``index_add_`` each
    (nothing read back to the host).

    Args:
        feats (torch.Tensor): Features of shape ``(N, C)``.
        labels (torch.Tensor): Class indices of shape ``(N, )``.
        num_classes (int): Number of classes ``K``.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: Sums ``(K, C)`` and counts
        ``(K, )``, both float64 on the device of ``feats``.
    """
    labels = labels.view(-1).long()
    # Sum in the features' precision (float32 at least: half features from
    # AMP are upcast), return float64 so that summing many batches stays
    # exact; casting all of (N, C) to float64 first would be ~8x slower.
    dtype = torch.promote_types(feats.dtype, torch.float32)
    sums = feats.new_zeros((num_classes, feats.size(1)), dtype=dtype)
    sums.index_add_(0, labels, feats.to(dtype))
    # not torch.bincount: on a GPU it reads the largest label back to size
    # its output, a host sync in every training iteration
    counts = feats.new_zeros(
        num_classes, dtype=torch.float64).index_add_(
            0, labels, labels.new_ones(labels.shape, dtype=torch.float64))
    return sums.to(torch.float64), counts


@HOOKS.register_module()
class ClassCenterHook(Hook):
    """Recompute the class centres of a :class:`SupervisedClusteringHead`
    every epoch (the EM-style alternation of EC-DL), or every ``interval``
    iterations in an iteration-based loop.

    During training the hook accumulates the pooled feature and label of
    every training image (the head's ``last_feats`` / ``last_labels``) as
    per-class sums and counts (``index_add_``; the sums are the sufficient
    statistics of the feature bank, so the bank itself is never stored).
    At each update the sums are summed over ranks (``all_reduce``, which
    equals the per-class mean of the all-gathered bank), the head's centres
    become the per-class means and the bank starts again empty; the next
    iterations train with these centres. Until the first update (epoch 0)
    no centre is valid, i.e. the loss is plain cross-entropy.

    When updates happen:

    - ``EpochBasedTrainLoop``: at the end of every ``interval``-th epoch
      (``interval`` defaults to 1: every epoch, as in EC-DL), from the
      features of the epochs since the last update.
    - ``IterBasedTrainLoop``: after every ``interval``-th iteration
      (``interval`` defaults to the length of the training dataloader, one
      pass over the data), from the features of the iterations since the
      last update.

    The centres are head buffers, and the hook runs before
    ``CheckpointHook`` (priority ``NORMAL`` < ``VERY_LOW``), so a checkpoint
    saved at an update holds the centres the next iterations use and a run
    resumed from it continues exactly as an uninterrupted one. A run resumed
    between two updates has lost the partial bank (it lives on every rank and
    is not saved): a warning says so.

    A class without any sample since the last update keeps its previous
    centre (or stays invalid if it never had one) and a warning names it.

    The head and the hook need each other: the hook stops before training
    when the model's head is not a :class:`SupervisedClusteringHead`, and
    the head stops at its second training step when nobody banked the
    features of the first (no hook).

    Args:
        momentum (float, optional): If given, update the centres as an
            exponential moving average ``c = m * c + (1 - m) * mean`` instead
            of replacing them by the new means; a centre seen for the first
            time is set to its mean. Must be in ``[0, 1)``.
            Defaults to None (full rebuild at each update, as in EC-DL).
        class_names (Sequence[str], optional): Names used in warnings.
            Defaults to None, which takes ``classes`` from the training
            dataset's metainfo when available.
        interval (int, optional): Epochs (epoch-based loop) or iterations
            (iteration-based loop) between two centre updates. Defaults to
            None: 1 epoch, or ``len(train_dataloader)`` iterations.
    """

    priority = 'NORMAL'

    def __init__(self,
                 momentum: Optional[float] = None,
                 class_names: Optional[Sequence[str]] = None,
                 interval: Optional[int] = None) -> None:
        if momentum is not None and not 0 <= momentum < 1:
            raise ValueError(f'momentum={momentum} must be None or in [0, 1)')
        if interval is not None and (isinstance(interval, bool)
                                     or not isinstance(interval, int)
                                     or interval < 1):
            raise ValueError(
                f'interval={interval!r} must be None or a positive integer')
        self.momentum = momentum
        self.class_names = list(class_names) if class_names else None
        self.interval = interval
        self.by_epoch = True
        self._interval = interval or 1
        self._sums: Optional[torch.Tensor] = None
        self._counts: Optional[torch.Tensor] = None

    @staticmethod
    def _get_head(runner) -> SupervisedClusteringHead:
        model = get_ori_model(runner.model)
        head = getattr(model, 'head', None)
        if not isinstance(head, SupervisedClusteringHead):
            raise TypeError(
                'ClassCenterHook needs a model whose `head` is a '
                f'SupervisedClusteringHead, but got {type(head).__name__}: '
                'remove ClassCenterHook from custom_hooks or set '
                "model.head.type='SupervisedClusteringHead'")
        return head

    def before_train(self, runner) -> None:
        """Check the head, resolve the update schedule and class names."""
        head = self._get_head(runner)
        loop = getattr(runner, 'train_loop', None)
        self.by_epoch = not isinstance(loop, IterBasedTrainLoop)
        if self.by_epoch:
            self._interval = self.interval or 1
            start, unit = getattr(runner, 'epoch', 0), 'epoch'
        else:
            self._interval = self.interval or len(runner.train_dataloader)
            start, unit = runner.iter, 'iteration'
        print_log(
            f'ClassCenterHook: class centres updated every {self._interval} '
            f'{unit}(s)',
            logger='current')
        if start % self._interval:
            msg = (f'ClassCenterHook: resumed at {unit} {start}, between two '
                   f'centre updates (every {self._interval} {unit}s): the '
                   'features banked since the last update were not saved, '
                   'so the next centres are computed from the remaining '
                   f'{self._interval - start % self._interval} {unit}(s) '
                   'only')
            warnings.warn(msg)
            print_log(msg, logger='current', level=30)
        if self.class_names is None:
            try:
                classes = runner.train_dataloader.dataset.metainfo.get(
                    'classes')
            except Exception:  # e.g. a dataset without metainfo
                classes = None
            if classes and len(classes) == head.num_classes:
                self.class_names = list(classes)

    def _reset_bank(self, head: SupervisedClusteringHead) -> None:
        self._sums = head.centers.new_zeros(
            head.centers.shape, dtype=torch.float64)
        self._counts = head.centers.new_zeros(
            head.num_classes, dtype=torch.float64)

    def before_train_epoch(self, runner) -> None:
        """Start an empty bank if none is running (first epoch, after an
        update)."""
        head = self._get_head(runner)
        if self._sums is None:
            self._reset_bank(head)
        head.last_feats = head.last_labels = None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        """Add the batch's features to the per-class sums; in an
        iteration-based loop, update the centres every ``interval``."""
        head = self._get_head(runner)
        if head.last_feats is not None:
            if self._sums is None:  # hook started mid-epoch
                self._reset_bank(head)
            sums, counts = class_sums(head.last_feats, head.last_labels,
                                      head.num_classes)
            self._sums += sums.to(self._sums.device)
            self._counts += counts.to(self._counts.device)
            # Cleared so a batch is never counted twice.
            head.last_feats = head.last_labels = None
        if not self.by_epoch and self.every_n_train_iters(
                runner, self._interval):
            self._update(head)

    def after_train_epoch(self, runner) -> None:
        """Every ``interval`` epochs, turn the bank into the head's
        centres."""
        if self.by_epoch and (self._interval == 1
                              or self.every_n_epochs(runner, self._interval)):
            self._update(self._get_head(runner))

    def _update(self, head: SupervisedClusteringHead) -> None:
        if self._sums is None:
            self._reset_bank(head)
        sums, counts = self._sums, self._counts
        all_reduce(sums, op='sum')
        all_reduce(counts, op='sum')
        self.update_centers(head, sums, counts)
        self._sums = self._counts = None

    def update_centers(self, head: SupervisedClusteringHead,
                       sums: torch.Tensor, counts: torch.Tensor) -> None:
        """Write the centres from per-class sums and counts.

        Args:
            head (SupervisedClusteringHead): The head to update.
            sums (torch.Tensor): Per-class feature sums ``(K, C)``.
            counts (torch.Tensor): Per-class sample counts ``(K, )``.
        """
        present = counts > 0
        means = sums / counts.clamp_min(1.).unsqueeze(1)
        means = means.to(head.centers.dtype)
        old, old_valid = head.centers, head.centers_valid
        if self.momentum is None:
            new = means
        else:
            blend = self.momentum * old + (1. - self.momentum) * means
            new = torch.where(old_valid.unsqueeze(1), blend, means)
        new = torch.where(present.unsqueeze(1), new, old)
        head.set_centers(new, old_valid | present)

        missing = (~present).nonzero().view(-1).tolist()
        if missing:
            names = [
                self.class_names[i] if self.class_names else f'class {i}'
                for i in missing
            ]
            msg = (f'ClassCenterHook: no training sample of {names} since '
                   'the last update; keeping their previous centres')
            warnings.warn(msg)
            print_log(msg, logger='current', level=30)

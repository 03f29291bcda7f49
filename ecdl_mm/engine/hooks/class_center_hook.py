import warnings
from typing import Optional, Sequence, Tuple

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from ecdl_mm.models.heads.supervised_clustering_head import \
    SupervisedClusteringHead


def class_sums(feats: torch.Tensor, labels: torch.Tensor,
               num_classes: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-class sums and counts of features, one ``index_add_`` each.

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
    counts = torch.bincount(labels, minlength=num_classes)
    return sums.to(torch.float64), counts.to(torch.float64)


@HOOKS.register_module()
class ClassCenterHook(Hook):
    """Recompute the class centres of a :class:`SupervisedClusteringHead`
    every epoch (the EM-style alternation of EC-DL).

    During each training epoch the hook accumulates the pooled feature and
    label of every training image (the head's ``last_feats`` /
    ``last_labels``) as per-class sums and counts (``index_add_``; the sums
    are the sufficient statistics of the feature bank, so the bank itself is
    never stored). At the end of the epoch the sums are summed over ranks
    (``all_reduce``, which equals the per-class mean of the all-gathered
    bank) and the head's centres become the per-class means; the next epoch
    trains with them. Epoch 0 runs with no valid centre, i.e. plain
    cross-entropy.

    The centres are head buffers, and the hook runs before
    ``CheckpointHook`` (priority ``NORMAL`` < ``VERY_LOW``), so the
    checkpoint of epoch ``e`` holds the centres for epoch ``e + 1`` and a
    resumed run continues exactly as an uninterrupted one.

    A class without any sample in an epoch keeps its previous centre (or
    stays invalid if it never had one) and a warning names it.

    Args:
        momentum (float, optional): If given, update the centres as an
            exponential moving average ``c = m * c + (1 - m) * mean`` instead
            of replacing them by the epoch's means; a centre seen for the
            first time is set to its mean. Must be in ``[0, 1)``.
            Defaults to None (full rebuild each epoch, as in EC-DL).
        class_names (Sequence[str], optional): Names used in warnings.
            Defaults to None, which takes ``classes`` from the training
            dataset's metainfo when available.
    """

    priority = 'NORMAL'

    def __init__(self,
                 momentum: Optional[float] = None,
                 class_names: Optional[Sequence[str]] = None) -> None:
        if momentum is not None and not 0 <= momentum < 1:
            raise ValueError(f'momentum={momentum} must be None or in [0, 1)')
        self.momentum = momentum
        self.class_names = list(class_names) if class_names else None
        self._sums: Optional[torch.Tensor] = None
        self._counts: Optional[torch.Tensor] = None

    @staticmethod
    def _get_head(runner) -> SupervisedClusteringHead:
        model = get_ori_model(runner.model)
        head = getattr(model, 'head', None)
        if not isinstance(head, SupervisedClusteringHead):
            raise TypeError(
                'ClassCenterHook needs a model whose `head` is a '
                f'SupervisedClusteringHead, but got {type(head).__name__}')
        return head

    def before_train(self, runner) -> None:
        """Check the head, resolve class names for warnings."""
        head = self._get_head(runner)
        if self.class_names is None:
            try:
                classes = runner.train_dataloader.dataset.metainfo.get(
                    'classes')
            except Exception:  # e.g. a dataset without metainfo
                classes = None
            if classes and len(classes) == head.num_classes:
                self.class_names = list(classes)

    def before_train_epoch(self, runner) -> None:
        """Start a new (empty) bank for this epoch."""
        head = self._get_head(runner)
        self._sums = head.centers.new_zeros(
            head.centers.shape, dtype=torch.float64)
        self._counts = head.centers.new_zeros(
            head.num_classes, dtype=torch.float64)
        head.last_feats = head.last_labels = None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        """Add the batch's features to the per-class sums."""
        head = self._get_head(runner)
        if head.last_feats is None:
            return
        if self._sums is None:  # hook started mid-epoch
            self.before_train_epoch(runner)
        sums, counts = class_sums(head.last_feats, head.last_labels,
                                  head.num_classes)
        self._sums += sums.to(self._sums.device)
        self._counts += counts.to(self._counts.device)
        # Cleared so a batch is never counted twice.
        head.last_feats = head.last_labels = None

    def after_train_epoch(self, runner) -> None:
        """Turn the epoch's bank into the head's centres."""
        if self._sums is None:
            return
        head = self._get_head(runner)
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
            msg = (f'ClassCenterHook: no training sample of {names} in this '
                   'epoch; keeping their previous centres')
            warnings.warn(msg)
            print_log(msg, logger='current', level=30)

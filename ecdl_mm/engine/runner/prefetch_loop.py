# Copyright (c) ecdl_mm contributors. All rights reserved.
"""mmengine's epoch-based training loop with the next batch prepared on the
device one step ahead (:class:`DevicePrefetchTrainLoop`)."""
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import LOOPS

from ...utils.device_prefetch import prefetch


@LOOPS.register_module()
class DevicePrefetchTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` whose batches are prepared on the model's
    device one step ahead, in a background thread.

    For a data preprocessor that does much of its work on the device (the
    ``-gpu-decode`` / ``-gpu-augment`` configs'
    :class:`~ecdl_mm.models.EncodedCropDataPreprocessor` and
    :class:`~ecdl_mm.models.EncodedCropClsDataPreprocessor`: nvJPEG decode,
    crops, RandAugment, ~1000-1800 small kernels per batch of 64): its
    ``prepare_batch`` runs for batch ``n + 1`` while batch ``n`` trains
    (:func:`ecdl_mm.utils.device_prefetch.prefetch`), so the host's time
    launching those kernels no longer leaves the GPU idle between steps.
    The batches, and so the training, are the same as
    ``EpochBasedTrainLoop``'s (tested); the preprocessor's ``forward`` then
    only normalises.

    The other arguments (``runner``, ``dataloader``, ``max_epochs``,
    ``val_begin``, ``val_interval``, ``dynamic_intervals``) are
    ``EpochBasedTrainLoop``'s.

    Args:
        timeout (float): Seconds one batch's preparation may take before
            ``TimeoutError``. Defaults to 600.
    """

    def __init__(self,
                 runner,
                 dataloader,
                 max_epochs: int,
                 *args,
                 timeout: float = 600.,
                 **kwargs) -> None:
        super().__init__(runner, dataloader, max_epochs, *args, **kwargs)
        self.timeout = timeout

    def run_epoch(self) -> None:
        """Iterate one epoch (``EpochBasedTrainLoop.run_epoch`` over the
        prefetched batches)."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        model = self.runner.model
        pre = (model.module
               if is_model_wrapper(model) else model).data_preprocessor
        prepare = getattr(pre, 'prepare_batch', None)
        if prepare is None:
            raise TypeError(
                f'DevicePrefetchTrainLoop: the data preprocessor '
                f'{type(pre).__name__} has no prepare_batch(); use it with '
                'EncodedCropDataPreprocessor / EncodedCropClsDataPreprocessor '
                "or train with type='EpochBasedTrainLoop'")
        for idx, data_batch in enumerate(
                prefetch(self.dataloader, prepare, pre.device, self.timeout)):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

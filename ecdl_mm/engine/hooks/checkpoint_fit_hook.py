# Copyright (c) ecdl_mm contributors. All rights reserved.
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from ...utils.checkpoint import check_checkpoint_fits


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Refuse a loaded checkpoint that leaves weights of the model unset.

    mmengine loads ``load_from`` with ``strict=False`` and only logs the keys
    it misses, so testing a classifier with a pre-training checkpoint runs a
    random head and reports chance-level numbers. This hook checks, right
    after a checkpoint is read and before it is applied, that every parameter
    of the model is in it with its shape
    (:func:`ecdl_mm.utils.check_checkpoint_fits`). ``tools/test.py`` adds it;
    add it to ``custom_hooks`` to check ``load_from`` elsewhere (not for
    partial ``load_from`` on purpose, e.g. a backbone-only file).
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Raise :class:`ecdl_mm.utils.CheckpointKindError` when
        ``checkpoint`` does not fit ``runner.model``."""
        check_checkpoint_fits(
            runner.model, checkpoint,
            str(runner._load_from or 'the loaded checkpoint'))

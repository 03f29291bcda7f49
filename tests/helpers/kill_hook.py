# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A hook that SIGKILLs its own process after a given epoch, after every other
hook (checkpointing included) ran: a real crash for resume tests."""
import os
import signal

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class KillAfterEpochHook(Hook):
    priority = 'LOWEST'

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        # runner.epoch counts finished epochs only after this hook returns
        if runner.epoch + 1 == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)

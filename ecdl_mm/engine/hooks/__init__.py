# Copyright (c) ecdl_mm contributors. All rights reserved.
from .checkpoint_fit_hook import CheckpointFitHook
from .class_center_hook import ClassCenterHook

__all__ = ['CheckpointFitHook', 'ClassCenterHook']

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Helpers shared by test modules (``from helpers import ...``).

``tests/`` is on ``sys.path`` because ``tests/conftest.py`` lives there
(pytest's default ``prepend`` import mode). Subprocess tests also put this
folder itself on ``PYTHONPATH`` (``run_tool`` in conftest.py), so configs can
custom-import test-only components such as ``kill_hook``.
"""
from .tiny_models import (CLASSES, TINY_CONFIG, TINY_VIT_ARCH,
                          save_tiny_checkpoint)
from .vit_reference import (IMG, check_logits, ecvit_classifier,
                            mmpretrain_reference_vit, to_timm_keys)

__all__ = [
    'CLASSES', 'TINY_CONFIG', 'TINY_VIT_ARCH', 'save_tiny_checkpoint', 'IMG',
    'check_logits', 'ecvit_classifier', 'mmpretrain_reference_vit',
    'to_timm_keys'
]

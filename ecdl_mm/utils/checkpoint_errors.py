# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The errors of checkpoint loading.

They are raised by several modules and caught by the tools; their public
home is :mod:`ecdl_mm.utils.checkpoint`, which is the name tracebacks print
(``__module__``, as numpy's ``set_module`` does).
"""
import pickle

PUBLIC_MODULE = 'ecdl_mm.utils.checkpoint'


class UnsafeCheckpointError(pickle.UnpicklingError):
    """Raised when a checkpoint holds an object that is not allow-listed."""


class CheckpointKindError(ValueError):
    """A file that is not a model checkpoint, or whose weights do not fit the
    model it is loaded into (e.g. a pre-training checkpoint given to a
    classifier)."""


class MissingCheckpointError(FileNotFoundError):
    """A local checkpoint that does not exist; the message says which run
    writes it when the path points into ``work_dirs/<config name>/``."""


for _cls in (UnsafeCheckpointError, CheckpointKindError,
             MissingCheckpointError):
    _cls.__module__ = PUBLIC_MODULE

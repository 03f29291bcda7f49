# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Safe checkpoint loading and atomic checkpoint writing: the public names.

The code lives in modules named for what they do:

- :mod:`ecdl_mm.utils.checkpoint_errors`: the errors;
- :mod:`ecdl_mm.utils.weights_only`: the allow-list of classes
  ``torch.load`` may rebuild and the meaning of its refusals;
- :mod:`ecdl_mm.utils.missing_checkpoint`: which run writes a missing
  checkpoint;
- :mod:`ecdl_mm.utils.checkpoint_loaders`: the guarded mmengine loaders,
  :func:`safe_load` and the URL cache;
- :mod:`ecdl_mm.utils.checkpoint_fit`: does a checkpoint fit the model;
- :mod:`ecdl_mm.fileio.backends.atomic_local_backend`: the ``atomic_local``
  file backend checkpoints are written with.

What ``import ecdl_mm`` changes in mmengine is listed in ``ecdl_mm``'s
docstring.
"""
from ..fileio.backends.atomic_local_backend import AtomicLocalBackend
from .checkpoint_errors import (CheckpointKindError, MissingCheckpointError,
                                UnsafeCheckpointError)
from .checkpoint_fit import (check_checkpoint_fits, checkpoint_state_dict,
                             load_model_checkpoint)
from .checkpoint_loaders import (HASH_REGEX, download_checkpoint, load_url,
                                 patch_checkpoint_loaders, safe_load)
from .missing_checkpoint import config_writing, missing_checkpoint_error
from .weights_only import (SAFE_GLOBALS, explain_load_error, load_weights,
                           register_safe_globals)

__all__ = [
    'AtomicLocalBackend', 'CheckpointKindError', 'MissingCheckpointError',
    'UnsafeCheckpointError', 'check_checkpoint_fits', 'checkpoint_state_dict',
    'load_model_checkpoint', 'HASH_REGEX', 'download_checkpoint', 'load_url',
    'patch_checkpoint_loaders', 'safe_load', 'config_writing',
    'missing_checkpoint_error', 'SAFE_GLOBALS', 'explain_load_error',
    'load_weights', 'register_safe_globals'
]

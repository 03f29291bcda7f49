# Copyright (c) ecdl_mm contributors. All rights reserved.
from .cfg_options import add_cfg_options, check_cfg_options, merge_cfg_options
from .checkpoint import (SAFE_GLOBALS, AtomicLocalBackend, CheckpointKindError,
                         MissingCheckpointError, UnsafeCheckpointError,
                         check_checkpoint_fits, download_checkpoint,
                         load_model_checkpoint, missing_checkpoint_error,
                         patch_checkpoint_loaders, register_safe_globals,
                         safe_load)
from .config_check import check_checkpoint_paths, check_config
from .dist import setup_cpu_distributed, teardown_distributed
from .errors import ConfigError
from .threads import set_inference_threads

__all__ = [
    'SAFE_GLOBALS', 'AtomicLocalBackend', 'CheckpointKindError',
    'MissingCheckpointError', 'UnsafeCheckpointError', 'check_checkpoint_fits',
    'download_checkpoint', 'load_model_checkpoint', 'missing_checkpoint_error',
    'patch_checkpoint_loaders', 'register_safe_globals', 'safe_load',
    'ConfigError', 'add_cfg_options', 'check_cfg_options', 'merge_cfg_options',
    'check_checkpoint_paths', 'check_config', 'setup_cpu_distributed',
    'teardown_distributed', 'set_inference_threads'
]

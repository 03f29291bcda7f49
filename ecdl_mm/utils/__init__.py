from .checkpoint import (SAFE_GLOBALS, AtomicLocalBackend,
                         UnsafeCheckpointError, patch_checkpoint_loaders,
                         register_safe_globals, safe_load)
from .config_check import ConfigError, check_config
from .dist import setup_cpu_distributed
from .threads import set_inference_threads

__all__ = [
    'SAFE_GLOBALS', 'AtomicLocalBackend', 'UnsafeCheckpointError',
    'patch_checkpoint_loaders', 'register_safe_globals', 'safe_load',
    'ConfigError', 'check_config', 'setup_cpu_distributed',
    'set_inference_threads'
]

"""ecdl_mm: EC-DL for EC-NBI endocytoscopy as an mmpretrain 1.x plugin.

Importing the package registers every component in mmpretrain's registries
(scope ``mmpretrain``), allow-lists the classes mmengine checkpoints need for
torch's ``weights_only`` loading and routes every checkpoint loader through a
guard that refuses unsafe pickles with a clear message.
"""
from .version import __version__
from .utils import patch_checkpoint_loaders, register_safe_globals

register_safe_globals()
patch_checkpoint_loaders()

from . import apis, datasets, engine, evaluation, models  # noqa: F401,E402

__all__ = ['__version__']

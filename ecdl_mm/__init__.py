"""ecdl_mm: EC-DL for EC-NBI endocytoscopy as an mmpretrain 1.x plugin.

Importing the package registers every component in mmpretrain's registries
(scope ``mmpretrain``), allow-lists the classes mmengine checkpoints need for
torch's ``weights_only`` loading and replaces every mmengine checkpoint loader
(local files, URLs and the other schemes) by one that never unpickles code.
"""
import warnings

# Two warnings our pinned dependencies print on every run, about parts we do
# not use (mmcv-lite has no compiled ops; mmengine still imports
# pkg_resources). Silenced by exact message so that a tool's stderr carries
# only what matters (see ecdl_mm.utils.cli).
warnings.filterwarnings(
    'ignore',
    message='Fail to import ``MultiScaleDeformableAttention``',
    category=UserWarning)
warnings.filterwarnings(
    'ignore', message='pkg_resources is deprecated as an API',
    category=UserWarning)

from .version import __version__  # noqa: E402
from .utils import (patch_checkpoint_loaders,  # noqa: E402
                    register_safe_globals)

register_safe_globals()
patch_checkpoint_loaders()

from . import apis, datasets, engine, evaluation, models  # noqa: F401,E402

__all__ = ['__version__']

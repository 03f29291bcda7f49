# Copyright (c) ecdl_mm contributors. All rights reserved.
"""ecdl_mm: EC-DL for EC-NBI endocytoscopy as an mmpretrain 1.x plugin.

Importing the package registers every component in mmpretrain's registries
(scope ``mmpretrain``) and changes mmengine in these ways, all of them here:

- ``torch.serialization.add_safe_globals(SAFE_GLOBALS)``: the classes
  mmengine checkpoints pickle (``HistoryBuffer``, numpy arrays and
  scalars, ``argparse.Namespace``) may be rebuilt by weights-only loading
  (:mod:`ecdl_mm.utils.weights_only`).
- ``mmengine.runner.checkpoint.torch`` becomes a view of torch whose ``load``
  always passes ``weights_only=True``, and
  ``mmengine.runner.checkpoint.load_url`` a weights-only download into the
  torch hub cache that deletes a refused file: the two funnels every
  mmengine checkpoint scheme unpickles through
  (:mod:`ecdl_mm.utils.checkpoint_loaders`).
- Every loader registered with ``CheckpointLoader`` is re-registered
  (``force=True``) wrapped: errors name the file or URL, and a missing local
  file names the run that writes it. mmengine's loaders still do the work.
- The file backend ``atomic_local`` is registered
  (:mod:`ecdl_mm.fileio.backends.atomic_local_backend`).
- Three warnings of the pinned dependencies about parts we do not use, or
  use knowingly, are filtered by exact message (below).
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
    'ignore',
    message='pkg_resources is deprecated as an API',
    category=UserWarning)
# torchvision 0.29 marks its JPEG decoders deprecated (torchcodec), which
# ecdl_mm.utils.device_jpeg uses on the GPU. Filtered once, here: a
# ``warnings.catch_warnings`` around each call is not thread-safe, and the
# training decode runs in a prefetch thread beside the training loop.
warnings.filterwarnings(
    'ignore',
    message='The image decoding and encoding capabilities of TorchVision',
    category=DeprecationWarning)

from .utils import patch_checkpoint_loaders, register_safe_globals
from .version import __version__

register_safe_globals()
patch_checkpoint_loaders()

from . import (apis, datasets, engine, evaluation, fileio, inference, live,
               models)

__all__ = ['__version__']

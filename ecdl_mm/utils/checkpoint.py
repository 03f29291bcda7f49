"""Safe checkpoint loading and atomic checkpoint writing.

Since torch 2.6, ``torch.load`` unpickles with ``weights_only=True``: only
tensors, containers and allow-listed classes may be rebuilt, so a checkpoint
cannot run code. mmengine 0.10.7 checkpoints also pickle a few harmless objects
(``HistoryBuffer`` in the message hub, numpy arrays and scalars,
``collections.Counter``) and the EC-DL release pickles an
``argparse.Namespace``. We allow-list exactly those classes instead of turning
the weights-only check off, and make every mmengine checkpoint scheme turn a
refusal into an :class:`UnsafeCheckpointError` that names the file and the
object.

Checkpoints are written through the ``atomic_local`` file backend (see
``configs/_base_/default_runtime.py``): data goes to a temporary file in the
same folder which is fsynced and renamed over the target, so a kill during a
save never leaves a truncated file where resume would look for one.
"""
import argparse
import functools
import os
import os.path as osp
import pickle
import re
import tempfile
from typing import Union

import numpy as np
import torch
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


class UnsafeCheckpointError(pickle.UnpicklingError):
    """Raised when a checkpoint holds an object that is not allow-listed."""


def _history_buffer_getattr(owner, name):
    """Stand-in for ``builtins.getattr`` while unpickling.

    mmengine pickles ``HistoryBuffer._statistics_methods`` as
    ``getattr(HistoryBuffer, 'mean')`` and so on. Allowing the real
    ``getattr`` would let a crafted file reach any attribute of any
    allow-listed object, so only the statistics methods of ``HistoryBuffer``
    are served.
    """
    if owner is HistoryBuffer and callable(
            HistoryBuffer.__dict__.get(name)) and not name.startswith('_'):
        return getattr(owner, name)
    raise UnsafeCheckpointError(
        f'refusing getattr({owner!r}, {name!r}) while unpickling: only '
        'HistoryBuffer statistics methods are allowed')


def _numpy_safe_globals():
    core = np._core if hasattr(np, '_core') else np.core
    reconstruct = core.multiarray._reconstruct
    scalar = core.multiarray.scalar
    items = [np.ndarray, np.dtype, reconstruct, scalar]
    # Files written with numpy 1.x name the same functions under
    # ``numpy.core``.
    items += [(reconstruct, 'numpy.core.multiarray._reconstruct'),
              (scalar, 'numpy.core.multiarray.scalar'),
              (reconstruct, 'numpy._core.multiarray._reconstruct'),
              (scalar, 'numpy._core.multiarray.scalar')]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        items += [
            getattr(dtypes, n) for n in dir(dtypes)
            if n.endswith('DType') and isinstance(getattr(dtypes, n), type)
        ]
    return items


#: Everything ecdl_mm allows ``torch.load`` to rebuild beyond torch's defaults.
SAFE_GLOBALS = [
    HistoryBuffer,
    (_history_buffer_getattr, 'builtins.getattr'),
    argparse.Namespace,
] + _numpy_safe_globals()

# torch words it "Unsupported global: GLOBAL a.b" or "unsupported GLOBAL a.b
# whose
# module a is blocked".
_UNSUPPORTED_RE = re.compile(r'(?:global|GLOBAL):? (?:GLOBAL )?([\w.]+)')


def register_safe_globals() -> None:
    """Allow-list :data:`SAFE_GLOBALS` for every ``weights_only`` load."""
    torch.serialization.add_safe_globals(SAFE_GLOBALS)


def _explain(filename, err: Exception) -> UnsafeCheckpointError:
    text = str(err)
    match = _UNSUPPORTED_RE.search(text)
    what = (f'the pickled object `{match.group(1)}`'
            if match else 'a pickled object')
    detail = '' if match else ' '.join(text.split())[:300]
    return UnsafeCheckpointError(
        f'Refusing to load checkpoint {filename!r}: it contains {what}, which '
        "is not on ecdl_mm's allow-list of safe classes (loading it could run "
        'arbitrary code). If you created this file yourself and trust it, '
        'convert it with tools/model_converters/ or add the class with '
        '`torch.serialization.add_safe_globals`.' +
        (f' Details: {detail}' if detail else ''))


def _guard(loader):

    @functools.wraps(loader)  # keeps __name__: mmengine logs it
    def safe_loader(filename, *args, **kwargs):
        try:
            return loader(filename, *args, **kwargs)
        except UnsafeCheckpointError:
            raise
        except pickle.UnpicklingError as err:
            raise _explain(filename, err) from None

    return safe_loader


def patch_checkpoint_loaders() -> None:
    """Wrap every registered mmengine checkpoint scheme with :func:`_guard`.

    Idempotent; loaders keep torch's ``weights_only=True`` default.
    """
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if not hasattr(loader, '__wrapped__'):
            CheckpointLoader.register_scheme(
                prefix, _guard(loader), force=True)


def safe_load(filename: Union[str, os.PathLike],
              map_location: Union[str, torch.device] = 'cpu'):
    """Load a checkpoint (local path or URL) without running pickled code.

    Args:
        filename (str | PathLike): Local path, ``http(s)://`` URL or any
            mmengine scheme.
        map_location (str | torch.device): Passed to ``torch.load``.
            Defaults to ``'cpu'``.

    Returns:
        The unpickled object (usually a dict).

    Raises:
        UnsafeCheckpointError: If the file holds a non allow-listed object.
    """
    patch_checkpoint_loaders()
    return CheckpointLoader.load_checkpoint(os.fspath(filename), map_location)


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """A :class:`LocalBackend` whose writes are atomic (temp file + rename)."""

    def _atomic_write(self, data: bytes, filepath) -> None:
        filepath = str(filepath)
        folder = osp.dirname(osp.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=folder, prefix=f'.{osp.basename(filepath)}.', suffix='.tmp')
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise

    def put(self, obj: bytes, filepath) -> None:
        self._atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        self._atomic_write(obj.encode(encoding), filepath)

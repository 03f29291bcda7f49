# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Every mmengine checkpoint loader reads weights only: its funnels are
guarded.

mmengine 0.10.7 registers eleven scheme prefixes with ``CheckpointLoader``.
Their loaders fetch the bytes each in its own way, then unpickle them through
one of two names of ``mmengine.runner.checkpoint``:

- ``torch.load`` (local files, ``pavi://``, ``s3://`` / ``petrel://``,
  ``open-mmlab://`` files in mmengine's home), which relies on torch's
  default ``weights_only``, turned off by the environment variable
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``;
- ``load_url`` (``http(s)://``, and through ``load_from_http`` the URLs of
  ``torchvision://``, ``modelzoo://``, ``open-mmlab://`` and ``mmcls://``),
  which is ``torch.hub.load_state_dict_from_url``, whose ``weights_only``
  defaults to False.

:func:`patch_checkpoint_loaders` replaces those two names in that module
(``torch`` by a view of torch whose ``load`` is
:func:`~ecdl_mm.utils.weights_only.load_weights`; ``load_url`` by
:func:`load_url`, which keeps torch's hub cache but deletes a refused
download) and wraps every registered loader so that its errors name the
file or URL; the local one also says which run writes a missing file
(:func:`~ecdl_mm.utils.missing_checkpoint.missing_checkpoint_error`). The
loaders themselves stay mmengine's, so every path through mmengine
(``load_checkpoint``, ``init_cfg`` of type ``Pretrained``, ``load_from``,
resume) is guarded and follows mmengine's own changes.
"""
import contextlib
import contextvars
import functools
import io
import os
import os.path as osp
import pickle
import re
import sys
import types
import zipfile
from typing import Callable, Optional, Tuple, Union
from urllib.parse import urlparse

import torch
from mmengine.logging import print_log
from mmengine.runner import checkpoint as mm_ckpt
from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoint_errors import (CheckpointKindError, MissingCheckpointError,
                                UnsafeCheckpointError)
from .missing_checkpoint import missing_checkpoint_error
from .weights_only import explain_load_error, load_weights

# The file or URL a scheme loader was given, to name in errors about bytes
# it unpickles from memory or from a temporary copy.
_SOURCE = contextvars.ContextVar('ecdl_mm_checkpoint_source', default=None)

#: ``torch.hub``'s ``check_hash`` file-name convention,
#: ``name-<first 8 or more hex digits of the sha256>.ext``.
HASH_REGEX = re.compile(r'-([a-f0-9]{8,64})\.')


def _default_progress() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def download_checkpoint(url: str,
                        model_dir: Optional[str] = None,
                        progress: Optional[bool] = None) -> Tuple[str, bool]:
    """Download ``url`` into the torch hub cache unless it is there already.

    The file goes to ``<model_dir>.<random>.partial`` first and is renamed to
    its final name only once complete (and, when its name carries a hash
    prefix, ``name-<sha256 prefix>.pth``, once the hash matches), so the
    cache never holds a half-written file under a checkpoint's name.

    Args:
        url (str): ``http://`` or ``https://`` address.
        model_dir (str, optional): Cache folder. Defaults to
            ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/...``).
        progress (bool, optional): Show a progress bar on stderr. Defaults to
            None: shown when stderr is a terminal.

    Returns:
        tuple[str, bool]: The cached file and whether this call downloaded
        it.
    """
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    name = osp.basename(urlparse(url).path)
    if not name:
        raise ValueError(f'{url!r} does not name a file to download')
    os.makedirs(model_dir, exist_ok=True)
    cached = osp.join(model_dir, name)
    if osp.exists(cached):
        return cached, False
    match = HASH_REGEX.search(name)
    print_log(f'Downloading {url} to {cached}', logger='current')
    try:
        torch.hub.download_url_to_file(
            url,
            cached,
            hash_prefix=match.group(1) if match else None,
            progress=_default_progress() if progress is None else progress)
    except RuntimeError as err:
        if 'invalid hash value' not in str(err):
            raise
        # torch removed the partial file: nothing is left in the cache
        raise CheckpointKindError(
            f'{url!r} is not the file its name promises: {err} (the name '
            'carries the first digits of its sha256); nothing was kept in '
            f'{model_dir}') from None
    return cached, True


def _is_legacy_zip(path: str) -> bool:
    # torch < 1.6 checkpoints zipped by hand: one member, not torch's layout
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as f:
        members = f.infolist()
    return len(members) == 1 and not members[0].is_dir()


def _load_cached(path: str, map_location, source: str):
    if _is_legacy_zip(path):
        with zipfile.ZipFile(path) as f:
            data = f.read(f.infolist()[0])
        with io.BytesIO(data) as buffer:
            return load_weights(buffer, map_location, source)
    return load_weights(path, map_location, source)


def load_url(url: str,
             model_dir: Optional[str] = None,
             map_location=None,
             progress: Optional[bool] = None,
             check_hash: bool = False,
             file_name: Optional[str] = None):
    """``mmengine.runner.checkpoint.load_url``, weights only.

    Downloads ``url`` into the torch hub cache (:func:`download_checkpoint`:
    a hash prefix in the name is always checked, so ``check_hash`` changes
    nothing) and loads it with ``weights_only=True``. A refused file that
    this call downloaded is deleted from the cache; one found there already
    is named in the error.
    """
    if file_name is not None:
        raise ValueError('load_url: file_name is not supported (the cache '
                         'name is the one of the URL)')
    cached, fresh = download_checkpoint(url, model_dir, progress)
    try:
        return _load_cached(cached, map_location, url)
    except (UnsafeCheckpointError, CheckpointKindError) as err:
        # The file is untrusted (or useless): one we just downloaded is
        # deleted, so the cache never keeps it; one found there already is
        # named, and left for the user to inspect or delete.
        if fresh:
            # another process of the job may have removed it already
            with contextlib.suppress(FileNotFoundError):
                os.remove(cached)
            note = ' The downloaded file was deleted from the cache.'
        else:
            note = f' (cached copy: {cached})'
        raise type(err)(f'{err}{note}') from None


class _WeightsOnlyTorch(types.ModuleType):
    """``torch`` as ``mmengine.runner.checkpoint`` sees it: everything is
    torch's except :meth:`load`, which loads weights only."""

    def __init__(self):
        super().__init__('torch', torch.__doc__)

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def load(f, map_location=None, **kwargs):
        """``torch.load(f, map_location, weights_only=True)``; errors name the
        scheme loader's file or URL (else ``f``). Other keyword arguments
        (a request to turn weights-only loading off included) are ignored:
        mmengine passes none.
        """
        source = _SOURCE.get()
        if source is None:
            source = os.fspath(f) if isinstance(f, (str, os.PathLike)) \
                else getattr(f, 'name', repr(f))
        return load_weights(f, map_location, source)


_TORCH = _WeightsOnlyTorch()


def _guard(loader: Callable) -> Callable:
    """Name the file in the errors of a scheme loader (and in those of the
    ``torch.load`` it reaches); a bare unpickling error (a plugin loader
    with its own ``pickle``) is explained like torch's."""

    @functools.wraps(loader)  # keeps __name__: mmengine logs it
    def guarded(filename, *args, **kwargs):
        token = _SOURCE.set(filename)
        try:
            return loader(filename, *args, **kwargs)
        except (UnsafeCheckpointError, CheckpointKindError,
                MissingCheckpointError):
            raise
        except pickle.UnpicklingError as err:
            raise explain_load_error(filename, err) from None
        finally:
            _SOURCE.reset(token)

    guarded.ecdl_mm_guarded = True
    return guarded


def _with_missing_hint(loader: Callable) -> Callable:
    """The local loader: a missing file names the run that writes it."""

    @functools.wraps(loader)
    def load_from_local(filename, *args, **kwargs):
        if not osp.isfile(osp.expanduser(filename)):
            raise missing_checkpoint_error(osp.expanduser(filename))
        return loader(filename, *args, **kwargs)

    return load_from_local


def patch_checkpoint_loaders() -> None:
    """Guard mmengine's checkpoint funnels and loaders (see the module doc).

    Schemes registered later (a plugin's) are guarded on the next call;
    :func:`safe_load` calls it every time. Idempotent.
    """
    mm_ckpt.torch = _TORCH
    mm_ckpt.load_url = load_url
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if getattr(loader, 'ecdl_mm_guarded', False):
            continue
        if prefix == '':
            loader = _with_missing_hint(loader)
        CheckpointLoader.register_scheme(prefix, _guard(loader), force=True)


def safe_load(filename: Union[str, os.PathLike],
              map_location: Union[str, torch.device] = 'cpu'):
    """Load a checkpoint (local path or URL) without running pickled code.

    Args:
        filename (str | PathLike): Local path, ``http(s)://`` URL (downloaded
            to the torch hub cache first) or any mmengine scheme.
        map_location (str | torch.device): Passed to ``torch.load``.
            Defaults to ``'cpu'``.

    Returns:
        The unpickled object (usually a dict).

    Raises:
        UnsafeCheckpointError: If the file holds a non allow-listed object.
        CheckpointKindError: If the file is not a PyTorch checkpoint.
        MissingCheckpointError: If a local file does not exist.
    """
    patch_checkpoint_loaders()
    return CheckpointLoader.load_checkpoint(os.fspath(filename), map_location)

"""Safe checkpoint loading and atomic checkpoint writing.

Since torch 2.6, ``torch.load`` unpickles with ``weights_only=True``: only
tensors, containers and allow-listed classes may be rebuilt, so a checkpoint
cannot run code. mmengine 0.10.7 checkpoints also pickle a few harmless objects
(``HistoryBuffer`` in the message hub, numpy arrays and scalars,
``collections.Counter``) and the EC-DL release pickles an
``argparse.Namespace``. We allow-list exactly those classes instead of turning
the weights-only check off.

mmengine's own loaders do not all keep that check: its ``http(s)://`` loader
(also behind ``torchvision://``, ``open-mmlab://`` and ``mmcls://``) calls
``torch.hub.load_state_dict_from_url``, whose ``weights_only`` defaults to
False, and the others rely on torch's default, which the environment
variable ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` turns off.
:func:`patch_checkpoint_loaders` therefore registers, for every scheme
mmengine knows, a loader of ours that reads the bytes the same way and
unpickles them with an explicit ``weights_only=True``; a URL is first
downloaded into torch's hub cache. Every
loader reached through mmengine (``load_checkpoint``, ``init_cfg`` of type
``Pretrained``, ``load_from``, resume) goes through them, and a refusal raises
:class:`UnsafeCheckpointError` naming the file (or URL) and the object.

Checkpoints are written through the ``atomic_local`` file backend (see
``configs/_base_/default_runtime.py``): data goes to a temporary file in the
same folder which is fsynced and renamed over the target, so a kill during a
save never leaves a truncated file where resume would look for one.
"""
import argparse
import contextlib
import functools
import glob
import io
import logging
import os
import os.path as osp
import pickle
import re
import sys
import tempfile
import zipfile
from collections import OrderedDict
from typing import Optional, Tuple, Union
from urllib.parse import urlparse

import numpy as np
import torch
import torch.nn as nn
from mmengine.dist import get_dist_info
from mmengine.fileio import get_file_backend
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner import checkpoint as mm_ckpt
from mmengine.runner.checkpoint import CheckpointLoader


class UnsafeCheckpointError(pickle.UnpicklingError):
    """Raised when a checkpoint holds an object that is not allow-listed."""


class CheckpointKindError(ValueError):
    """A file that is not a model checkpoint, or whose weights do not fit the
    model it is loaded into (e.g. a pre-training checkpoint given to a
    classifier)."""


class MissingCheckpointError(FileNotFoundError):
    """A local checkpoint that does not exist; the message says which run
    writes it when the path points into ``work_dirs/<config name>/``."""


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
# whose module a is blocked".
_UNSUPPORTED_RE = re.compile(r'(?:global|GLOBAL):? (?:GLOBAL )?([\w.]+)')
_OBJECT_RE = re.compile(r"got <class '([\w.]+)'>")
# What the weights-only unpickler says about bytes that are no pickle torch
# writes (text, images, plain ``pickle.dump`` with protocol > 2, ...).
_NOT_A_PICKLE = ('Unsupported operand', 'invalid load key',
                 'String is too long')
# What torch's zip reader says about a zip that torch.save did not write.
_NOT_A_TORCH_ZIP = ('PytorchStreamReader', 'inline_container', 'zip archive',
                    'central directory')


def register_safe_globals() -> None:
    """Allow-list :data:`SAFE_GLOBALS` for every ``weights_only`` load."""
    torch.serialization.add_safe_globals(SAFE_GLOBALS)


def _summary(text: str) -> str:
    return ' '.join(text.split())[:300]


def _explain(filename, err: Exception) -> Exception:
    """The error to raise for a ``torch.load`` failure on ``filename``.

    Returns an :class:`UnsafeCheckpointError` when the file holds an object
    that is not allow-listed, a :class:`CheckpointKindError` when it is not a
    file ``torch.save`` wrote.
    """
    text = str(err)
    if isinstance(err, (EOFError, KeyError)) or any(
            s in text for s in _NOT_A_PICKLE + _NOT_A_TORCH_ZIP):
        reason = _summary(
            text.split('WeightsUnpickler error:')[-1].split(
                'Check the documentation')[0])
        if not isinstance(err, pickle.UnpicklingError):
            reason = f'{type(err).__name__}: {reason}'.rstrip(': ')
        return CheckpointKindError(
            f'{filename!r} is not a PyTorch checkpoint: torch.load cannot '
            f'read it ({reason}). Is it the right file?')
    match = _UNSUPPORTED_RE.search(text) or _OBJECT_RE.search(text)
    name = match.group(1) if match else None
    what = (f'the pickled object `{name}`' if name else 'a pickled object')
    detail = '' if name else _summary(text)
    return UnsafeCheckpointError(
        f'Refusing to load checkpoint {filename!r}: it contains {what}, which '
        "is not on ecdl_mm's allow-list of safe classes (loading it could run "
        'arbitrary code). If you created this file yourself and trust it, '
        'convert it with tools/model_converters/ or add the class with '
        '`torch.serialization.add_safe_globals`.' +
        (f' Details: {detail}' if detail else ''))


def _load_weights(f, map_location, source: str):
    """``torch.load(f, weights_only=True)``; failures name ``source``.

    ``weights_only`` is passed explicitly, so neither an old torch default nor
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` can turn the check off.
    """
    try:
        return torch.load(f, map_location=map_location, weights_only=True)
    except (UnsafeCheckpointError, CheckpointKindError):
        raise
    except (pickle.UnpicklingError, EOFError, KeyError) as err:
        raise _explain(source, err) from None
    except RuntimeError as err:
        if any(s in str(err) for s in _NOT_A_TORCH_ZIP):
            raise _explain(source, err) from None
        raise


def _guard(loader):
    """Turn the unpickling errors of a third-party scheme loader into ours."""

    @functools.wraps(loader)  # keeps __name__: mmengine logs it
    def safe_loader(filename, *args, **kwargs):
        try:
            return loader(filename, *args, **kwargs)
        except (UnsafeCheckpointError, CheckpointKindError):
            raise
        except pickle.UnpicklingError as err:
            raise _explain(filename, err) from None

    return safe_loader


# --------------------------------------------------------------------------
# A missing local checkpoint: say which run writes it.


def _config_dirs():
    """``configs/`` folders to look for the config of a work dir in: the
    current directory's and the repository's holding this package."""
    here = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    dirs = []
    for d in (osp.join(os.getcwd(), 'configs'), osp.join(here, 'configs')):
        if osp.isdir(d) and osp.realpath(d) not in map(osp.realpath, dirs):
            dirs.append(d)
    return dirs


def _display(path: str) -> str:
    rel = osp.relpath(path)
    return path if rel.startswith('..') else rel


def config_writing(path: str) -> Optional[str]:
    """The config whose training run writes ``path``, if one can be found.

    mmengine's tools put a run of ``configs/x/NAME.py`` in
    ``work_dirs/NAME/``; a path with a ``work_dirs/NAME`` part is matched to a
    config file ``NAME.py`` under ``configs/`` (``configs/ecdl/`` first).

    Returns:
        str | None: The config path, relative to the current directory when
        below it.
    """
    parts = osp.normpath(path).split(os.sep)
    if 'work_dirs' not in parts[:-2]:
        return None
    name = parts[parts.index('work_dirs') + 1]
    for root in _config_dirs():
        found = sorted(
            glob.glob(osp.join(root, '**', f'{name}.py'), recursive=True),
            key=lambda p: (osp.basename(osp.dirname(p)) != 'ecdl', p))
        if found:
            return _display(found[0])
    return None


def missing_checkpoint_error(path: str,
                             field: Optional[str] = None
                             ) -> MissingCheckpointError:
    """The error for a local checkpoint ``path`` that does not exist.

    Args:
        path (str): The checkpoint path as given.
        field (str, optional): Where it was given (a config field or a
            command-line argument), named in the message.

    Returns:
        MissingCheckpointError: Naming the path and, when the path lies in
        the work dir of a config of this repository, the command that writes
        it (the earlier stage of a staged pipeline).
    """
    where = f' ({field})' if field else ''
    msg = f'checkpoint {path!r}{where} not found'
    resolved = osp.abspath(osp.expanduser(path))
    if resolved != path:
        msg += f' (looked for {resolved})'
    config = config_writing(path)
    if config is not None:
        msg += f': run `python tools/train.py {config}` first'
        folder = osp.dirname(resolved)
        present = sorted(
            osp.basename(p) for p in glob.glob(osp.join(folder, '*.pth')))
        if present:
            msg += f' ({folder} holds {", ".join(present[:5])})'
    return MissingCheckpointError(msg)


# --------------------------------------------------------------------------
# Scheme loaders. Each mirrors mmengine's loader of the same name (which it
# replaces) except that the bytes go through ``_load_weights``.

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
            return _load_weights(buffer, map_location, source)
    return _load_weights(path, map_location, source)


def _load_url(url, map_location, model_dir, progress):
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


def load_from_local(filename, map_location=None):
    """Load a local checkpoint file (weights only)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise missing_checkpoint_error(filename)
    return _load_weights(filename, map_location, filename)


def load_from_http(filename, map_location=None, model_dir=None, progress=None):
    """Download a checkpoint to the torch hub cache and load it like a local
    file. Under torch.distributed rank 0 downloads, the others wait and then
    read the cached file."""
    rank, world_size = get_dist_info()
    checkpoint, error = None, None
    if rank == 0:
        try:
            checkpoint = _load_url(filename, map_location, model_dir, progress)
        except Exception as err:  # re-raised after the barrier
            error = err
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = _load_url(filename, map_location, model_dir, progress)
    if error is not None:
        raise error
    return checkpoint


def load_from_pavi(filename, map_location=None):
    """Load a checkpoint from pavi's model cloud (weights only)."""
    assert filename.startswith('pavi://'), \
        f'Expected filename startswith `pavi://`, but get {filename}'
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(
            'Please install pavi to load checkpoint from modelcloud.')
    model = modelcloud.get(filename[7:])
    with tempfile.TemporaryDirectory() as tmp_dir:
        downloaded = osp.join(tmp_dir, model.name)
        model.download(downloaded)
        return _load_weights(downloaded, map_location, filename)


def load_from_ceph(filename, map_location=None, backend='petrel'):
    """Load a checkpoint from an ``s3://`` / ``petrel://`` file backend
    (weights only)."""
    file_backend = get_file_backend(
        filename, backend_args={'backend': backend})
    with io.BytesIO(file_backend.get(filename)) as buffer:
        return _load_weights(buffer, map_location, filename)


def load_from_torchvision(filename, map_location=None):
    """``torchvision://NAME`` (or the deprecated ``modelzoo://NAME``)."""
    model_urls = mm_ckpt.get_torchvision_models()
    if filename.startswith('modelzoo://'):
        print_log(
            'The URL scheme of "modelzoo://" is deprecated, please '
            'use "torchvision://" instead',
            logger='current',
            level=logging.WARNING)
        model_name = filename[11:]
    else:
        model_name = filename[14:]
    return load_from_http(model_urls[model_name], map_location=map_location)


def load_from_openmmlab(filename, map_location=None):
    """``open-mmlab://NAME`` / ``openmmlab://NAME``: a URL (downloaded) or a
    file in mmengine's home."""
    model_urls = mm_ckpt.get_external_models()
    prefix = 'open-mmlab://' if filename.startswith(
        'open-mmlab://') else 'openmmlab://'
    model_name = filename[len(prefix):]
    deprecated_urls = mm_ckpt.get_deprecated_model_names()
    if model_name in deprecated_urls:
        print_log(
            f'{prefix}{model_name} is deprecated in favor '
            f'of {prefix}{deprecated_urls[model_name]}',
            logger='current',
            level=logging.WARNING)
        model_name = deprecated_urls[model_name]
    model_url = model_urls[model_name]
    if model_url.startswith(('http://', 'https://')):
        return load_from_http(model_url, map_location=map_location)
    path = osp.join(mm_ckpt._get_mmengine_home(), model_url)
    if not osp.isfile(path):
        raise missing_checkpoint_error(path, field=filename)
    return _load_weights(path, map_location, path)


def load_from_mmcls(filename, map_location=None):
    """``mmcls://NAME``: mmcls 0.x weights, keys renamed as mmengine does."""
    model_urls = mm_ckpt.get_mmcls_models()
    checkpoint = load_from_http(
        model_urls[filename[8:]], map_location=map_location)
    return mm_ckpt._process_mmcls_checkpoint(checkpoint)


#: Every scheme mmengine 0.10.7 registers, with the loader that replaces it.
SAFE_SCHEMES = OrderedDict([
    ('', load_from_local),
    ('http://', load_from_http),
    ('https://', load_from_http),
    ('pavi://', load_from_pavi),
    (r'(\S+\:)?s3://', load_from_ceph),
    (r'(\S+\:)?petrel://', load_from_ceph),
    ('modelzoo://', load_from_torchvision),
    ('torchvision://', load_from_torchvision),
    ('open-mmlab://', load_from_openmmlab),
    ('openmmlab://', load_from_openmmlab),
    ('mmcls://', load_from_mmcls),
])


def patch_checkpoint_loaders() -> None:
    """Route every mmengine checkpoint scheme through a weights-only loader.

    The schemes of :data:`SAFE_SCHEMES` get our loaders (``force=True``);
    any other registered scheme (a plugin's) is wrapped so that its
    unpickling errors name the file. Idempotent.
    """
    for prefix, loader in SAFE_SCHEMES.items():
        if CheckpointLoader._schemes.get(prefix) is not loader:
            CheckpointLoader.register_scheme(prefix, loader, force=True)
    safe = set(SAFE_SCHEMES.values())
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if loader not in safe and not hasattr(loader, '__wrapped__'):
            CheckpointLoader.register_scheme(
                prefix, _guard(loader), force=True)


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


# --------------------------------------------------------------------------
# A checkpoint of the wrong kind for the model.


def _unwrap(model: nn.Module) -> nn.Module:
    from mmengine.model import BaseTTAModel, is_model_wrapper
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def checkpoint_state_dict(checkpoint, filename: str = 'checkpoint') -> dict:
    """The weights of ``checkpoint`` as mmengine would load them.

    ``checkpoint['state_dict']`` or the checkpoint itself, ``module.``
    prefixes removed.

    Raises:
        CheckpointKindError: If there is no dict of tensors.
    """
    state = checkpoint
    if isinstance(checkpoint, dict) and 'state_dict' in checkpoint:
        state = checkpoint['state_dict']
    if not isinstance(state, dict) or not any(
            isinstance(v, torch.Tensor) for v in state.values()):
        what = (f'a dict with keys {sorted(map(str, state))[:6]}'
                if isinstance(state, dict) else f'a {type(state).__name__}')
        raise CheckpointKindError(
            f'{filename!r} is not a model checkpoint: it holds {what}, no '
            'weights (a dict of tensors, or one under `state_dict`)')
    return OrderedDict(
        (re.sub(r'^module\.', '', k), v) for k, v in state.items())


def check_checkpoint_fits(model: nn.Module,
                          checkpoint,
                          filename: str = 'checkpoint') -> None:
    """Refuse a checkpoint that would leave weights of ``model`` unloaded.

    mmengine loads with ``strict=False`` and only logs what is missing, so a
    pre-training checkpoint given to a classifier (or a classifier's to a
    masked autoencoder) silently leaves a random head. Every parameter of the
    model must be in the checkpoint with its shape; extra keys (a decoder, a
    teacher) and missing buffers are allowed.

    Raises:
        CheckpointKindError: Naming the file, the missing weights and the
            prefixes the checkpoint does hold.
    """
    state = checkpoint_state_dict(checkpoint, filename)
    params = OrderedDict(_unwrap(model).named_parameters())
    missing = [k for k in params if k not in state]
    mismatched = [
        f'{k} {tuple(state[k].shape)} vs {tuple(p.shape)}'
        for k, p in params.items()
        if k in state and hasattr(state[k], 'shape')
        and tuple(state[k].shape) != tuple(p.shape)
    ]
    if not missing and not mismatched:
        return
    held = sorted({k.split('.')[0] + '.' for k in state})
    problems = []
    if missing:
        problems.append(f'{len(missing)} of the model\'s {len(params)} '
                        f'weights are missing ({", ".join(missing[:4])}'
                        f'{", ..." if len(missing) > 4 else ""})')
    if mismatched:
        problems.append(f'{len(mismatched)} have another shape '
                        f'({", ".join(mismatched[:2])})')
    raise CheckpointKindError(
        f'checkpoint {filename!r} does not fit the model: '
        f'{"; ".join(problems)}; it holds {", ".join(held[:8])} weights. Is '
        'it a checkpoint of another kind or stage (e.g. a masked-autoencoder '
        'pre-training checkpoint given to a classifier)?')


def load_model_checkpoint(
        model: nn.Module,
        filename: str,
        map_location: Union[str, torch.device] = 'cpu') -> dict:
    """Load a trained model's checkpoint into ``model``, checked.

    Like mmengine's ``load_checkpoint`` (any scheme, weights only), but
    refuses a checkpoint that does not fit (:func:`check_checkpoint_fits`).
    When the checkpoint's meta carries the dataset meta (classes), it is
    stored as ``model._dataset_meta``, as mmpretrain's ``get_model`` does.

    Returns:
        dict: The checkpoint.
    """
    from mmengine.runner import load_state_dict
    checkpoint = safe_load(filename, map_location)
    check_checkpoint_fits(model, checkpoint, filename)
    load_state_dict(
        _unwrap(model), checkpoint_state_dict(checkpoint, filename))
    meta = checkpoint.get('meta') or {}
    if isinstance(meta, dict) and meta.get('dataset_meta'):
        model._dataset_meta = meta['dataset_meta']
    elif isinstance(meta, dict) and meta.get('CLASSES'):
        model._dataset_meta = {'classes': meta['CLASSES']}
    return checkpoint


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

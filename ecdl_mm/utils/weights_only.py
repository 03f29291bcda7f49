# Copyright (c) ecdl_mm contributors. All rights reserved.
"""What ``torch.load`` may rebuild, and what its refusals mean.

Since torch 2.6, ``torch.load`` unpickles with ``weights_only=True``: only
tensors, containers and allow-listed classes may be rebuilt, so a checkpoint
cannot run code. mmengine 0.10.7 checkpoints also pickle a few harmless objects
(``HistoryBuffer`` in the message hub, numpy arrays and scalars,
``collections.Counter``) and the EC-DL release pickles an
``argparse.Namespace``. :data:`SAFE_GLOBALS` allow-lists exactly those
classes instead of turning the weights-only check off;
:func:`load_weights` always passes ``weights_only=True`` and turns torch's
error wording into :class:`UnsafeCheckpointError` (an object not on the
list) or :class:`CheckpointKindError` (no file ``torch.save`` wrote).
"""
import argparse
import pickle
import re

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from .checkpoint_errors import CheckpointKindError, UnsafeCheckpointError


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


def explain_load_error(filename, err: Exception) -> Exception:
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


def load_weights(f, map_location, source: str):
    """``torch.load(f, weights_only=True)``; failures name ``source``.

    ``weights_only`` is passed explicitly, so neither an old torch default nor
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` can turn the check off.
    """
    try:
        return torch.load(f, map_location=map_location, weights_only=True)
    except (UnsafeCheckpointError, CheckpointKindError):
        raise
    except (pickle.UnpicklingError, EOFError, KeyError) as err:
        raise explain_load_error(source, err) from None
    except RuntimeError as err:
        if any(s in str(err) for s in _NOT_A_TORCH_ZIP):
            raise explain_load_error(source, err) from None
        raise

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A missing local checkpoint: the error says which run writes it.

mmengine's tools put a run of ``configs/x/NAME.py`` in ``work_dirs/NAME/``,
so a missing ``work_dirs/NAME/...pth`` is the output of
``python tools/train.py configs/.../NAME.py`` (the earlier stage of a staged
pipeline). Configs are looked up in the current directory's ``configs/`` and
in the one of the repository holding this package.
"""
import glob
import os
import os.path as osp
from typing import Optional

from .checkpoint_errors import MissingCheckpointError


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

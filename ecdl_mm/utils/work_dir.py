# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Output paths that follow the run's work dir.

A config writes ``out_dir='{work_dir}/lesion_eval'`` (or any string with
``{work_dir}``) instead of a fixed ``'work_dirs/<config>/...'``: the tools
replace the placeholder with the run's ``work_dir`` (``--work-dir``, else
the config's ``work_dir``, else ``./work_dirs/<config name>``), so two runs
with different work dirs never overwrite each other's files.
"""
import logging
import os
import os.path as osp
from typing import Any, Optional

#: The placeholder replaced by the run's work dir.
WORK_DIR = '{work_dir}'


def _substitute(node: Any, work_dir: str) -> Any:
    if isinstance(node, str):
        return node.replace(WORK_DIR, work_dir)
    if isinstance(node, dict):
        for key in list(node.keys()):
            node[key] = _substitute(node[key], work_dir)
        return node
    if isinstance(node, list):
        return [_substitute(x, work_dir) for x in node]
    if isinstance(node, tuple):
        return tuple(_substitute(x, work_dir) for x in node)
    return node


def resolve_work_dir(cfg) -> None:
    """Replace ``{work_dir}`` in every string of ``cfg`` (in place) with
    ``cfg.work_dir``, which must be set (the tools set it first)."""
    work_dir = cfg.get('work_dir')
    if not work_dir:
        raise ValueError('resolve_work_dir needs cfg.work_dir to be set')
    for key in list(cfg.keys()):
        if key != 'work_dir':
            cfg[key] = _substitute(cfg[key], str(work_dir))


def runner_work_dir() -> Optional[str]:
    """The work dir of the Runner running now, for a component that was
    built by a tool that did not call :func:`resolve_work_dir` (e.g.
    mmpretrain's own ``tools/test.py``): the Runner logs to
    ``<work_dir>/<timestamp>/<timestamp>.log``. None without such a log."""
    from mmengine.logging import MMLogger
    for handler in MMLogger.get_current_instance().handlers:
        if isinstance(handler, logging.FileHandler):
            return osp.dirname(osp.dirname(handler.baseFilename))
    return None


def resolve_path(path: str, what: str, makedirs: bool = False) -> str:
    """``path`` with ``{work_dir}`` replaced by :func:`runner_work_dir`
    (created first with ``makedirs``).

    Raises:
        ValueError: If ``path`` has the placeholder and no Runner log tells
            the work dir; the message names ``what`` (the field).
    """
    if WORK_DIR in path:
        work_dir = runner_work_dir()
        if work_dir is None:
            raise ValueError(
                f'{what}={path!r}: no run work dir to put in place of '
                f'{WORK_DIR} (run through tools/test.py or tools/train.py, '
                f'or give {what} a path)')
        path = path.replace(WORK_DIR, work_dir)
    if makedirs:
        os.makedirs(path, exist_ok=True)
    return path

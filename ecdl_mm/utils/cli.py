# Copyright (c) ecdl_mm contributors. All rights reserved.
"""One clear line for user mistakes in the ``tools/`` entry points.

Every script in ``tools/`` ends with ``run_cli(main)``. A mistake of the user
(a missing file, a bad config field or ``--cfg-options`` key, a split sheet
or data layout the dataset refuses, a checkpoint of the wrong kind or one
that is not safe to load, a stage run before the stage it starts from) then
ends the run with one line on stderr and exit status 2, as ``argparse`` does
for a bad argument::

    train.py: error: checkpoint 'work_dirs/x/epoch_20.pth'
    (model.backbone.init_cfg.checkpoint) not found: run
    `python tools/train.py configs/ecdl/x.py` first (--debug shows the
    traceback)

(printed as one line). ``--debug`` anywhere on the command line brings the
full traceback back. Any other exception is a bug and keeps its traceback.
"""
import argparse
import os
import os.path as osp
import sys
import warnings
from typing import Callable, List, Optional, Tuple, Type

from .checkpoint import CheckpointKindError, UnsafeCheckpointError
from .console_log import first_time_shown, readable_console_logs
from .errors import ConfigError, DataError

#: Exceptions that mean the user asked for something that cannot work
#: (``DataError``: a split sheet or data layout the dataset refuses while
#: the Runner builds it, e.g. a sheet without ``class_index``).
USER_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError,
               ConfigError, DataError, CheckpointKindError,
               UnsafeCheckpointError)

#: Exit status of a user mistake (as argparse's for a bad argument).
USER_ERROR_STATUS = 2


def one_line(err: BaseException) -> str:
    """``err``'s message on one line; a list (``ConfigError``) is joined
    with ``; ``."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    head, items = lines[0], [line.lstrip('- ').strip() for line in lines[1:]]
    return ' '.join([head, '; '.join(items)]) if items else head


def config_file(path: str) -> str:
    """``path``, a config file; a directory ends the run with a line that
    says so and names a config in it (mmengine says "does not exist").

    Raises:
        IsADirectoryError: When ``path`` is a directory.
    """
    if osp.isdir(path):
        configs = sorted(f for f in os.listdir(path) if f.endswith('.py'))
        hint = (f'; give one of its {len(configs)} config files, e.g. '
                f'{osp.join(path, configs[0])}'
                if configs else '; give a config file (.py)')
        raise IsADirectoryError(
            f'config {path!r} is a directory, not a config file{hint}')
    return path


def renamed_option(parser: argparse.ArgumentParser, old: str,
                   new: str) -> None:
    """Keep option ``old`` working as ``new`` (already added to
    ``parser``), hidden from ``--help``, with a FutureWarning that names
    ``new``."""
    target = next(a for a in parser._actions if new in a.option_strings)

    class _Renamed(argparse.Action):

        def __call__(self, parser, namespace, values, option_string=None):
            warnings.warn(
                f'{old} is deprecated and will be removed: it is now {new} '
                f'({target.help or target.dest})', FutureWarning)
            setattr(namespace, self.dest, values)

    parser.add_argument(
        old,
        dest=target.dest,
        type=target.type,
        action=_Renamed,
        help=argparse.SUPPRESS)


def _warning_to_log(message, category, filename, lineno, file=None, line=None):
    """Show a Python warning once, through the run's logger when there is
    one (stdout and the log file, beside mmengine's messages), else on
    stdout: stderr carries only the error line of a user mistake. Once
    means once per run (:func:`~.console_log.first_time_shown`)."""
    from mmengine.logging import MMLogger
    if MMLogger._instance_dict:
        MMLogger.get_current_instance().warning(
            f'{category.__name__}: {message}')
    elif first_time_shown(f'{category.__name__}: {message}'):
        sys.stdout.write(
            warnings.formatwarning(message, category, filename, lineno, ''))


def run_cli(main: Callable,
            argv: Optional[List[str]] = None,
            user_errors: Tuple[Type[BaseException], ...] = ()):
    """Run ``main()``; a user mistake becomes one stderr line and exit 2.

    Args:
        main (Callable): The tool's entry point, called without arguments (it
            parses ``sys.argv``).
        argv (list[str], optional): The command line to take ``--debug``
            from (removed in place, so the tool's parser never sees it).
            Defaults to ``sys.argv``.
        user_errors (tuple[type]): More exception types that are user
            mistakes for this tool (e.g. ``StudyDataError`` of the clinical
            tools), beside :data:`USER_ERRORS`. Defaults to ().

    Returns:
        What ``main`` returns.
    """
    argv = sys.argv if argv is None else argv
    debug = '--debug' in argv[1:]
    while '--debug' in argv[1:]:
        argv.remove('--debug')
    # Python warnings go to the run's log (stdout), so that stderr carries
    # only the error line of a user mistake.
    warnings.showwarning = _warning_to_log
    try:
        # the terminal log summarised (the log file keeps everything)
        with readable_console_logs():
            return main()
    except USER_ERRORS + tuple(user_errors) as err:
        if debug:
            raise
        prog = osp.basename(argv[0]) if argv and argv[0] else 'ecdl_mm'
        sys.stdout.flush()
        print(
            f'{prog}: error: {one_line(err)} (--debug shows the traceback)',
            file=sys.stderr)
        sys.exit(USER_ERROR_STATUS)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""run_cli: user mistakes -> one stderr line and exit 2, --debug re-raises,
anything else keeps its traceback."""
import warnings

import pytest

from ecdl_mm.datasets import DataError
from ecdl_mm.utils import (CheckpointKindError, ConfigError,
                           MissingCheckpointError, UnsafeCheckpointError)
from ecdl_mm.utils.cli import one_line, run_cli


def test_one_line():
    assert one_line(
        ConfigError('Invalid config:\n  - a=1 is bad\n  - b '
                    'too')) == 'Invalid config: a=1 is bad; b too'
    assert one_line(FileNotFoundError('x.pth can not\n be found')) == \
        'x.pth can not be found'
    assert one_line(KeyError()) == 'KeyError'


@pytest.mark.parametrize('error', [
    FileNotFoundError('missing.pth'),
    MissingCheckpointError('missing.pth'),
    NotADirectoryError('missing.pth'),
    ConfigError('Invalid config:\n  - missing.pth'),
    CheckpointKindError('missing.pth is not a checkpoint'),
    UnsafeCheckpointError('missing.pth is unsafe'),
    DataError("missing.pth [sheet 'test'] lacks the column(s) "
              "['class_index']"),
])
def test_user_mistakes(error, capsys):

    def main():
        print('some output')
        raise error

    argv = ['tools/x.py', 'a', '--debug', 'b']
    with pytest.raises(type(error)):  # --debug: the real exception
        run_cli(main, argv)
    assert argv == ['tools/x.py', 'a', 'b']  # the tool never sees --debug

    with pytest.raises(SystemExit) as exit_:
        run_cli(main, argv)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert err.count('\n') == 1 and err.startswith('x.py: error: ')
    assert 'missing.pth' in err and 'some output' in out


def test_other_errors_and_results_pass_through():

    def bug():
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        run_cli(bug, ['tools/x.py'])
    assert run_cli(lambda: 42, ['tools/x.py']) == 42


def test_warnings_are_shown_once_through_the_run_logger(capsys):
    from mmengine.logging import MMLogger
    logger = MMLogger.get_instance('test_cli_warnings', log_level='INFO')
    # the run's logger is the current one, as in a Runner
    assert MMLogger.get_current_instance() is logger
    saved = warnings.showwarning

    def main():
        with warnings.catch_warnings():
            warnings.simplefilter('always')
            warnings.warn('patients were NOT checked (test)')
        return 1

    try:
        assert run_cli(main, ['tools/x.py']) == 1
    finally:
        warnings.showwarning = saved
    out, err = capsys.readouterr()
    assert err == ''  # stderr is for the error line of a user mistake
    assert out.count('patients were NOT checked (test)') == 1
    assert 'WARNING - UserWarning: patients were NOT checked (test)' in out

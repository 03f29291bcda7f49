# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Checks of how a ``tools/`` entry point ends a user mistake."""


def assert_one_line(proc, *expected):
    """One stderr line, exit status 2, naming each of ``expected``."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].endswith('(--debug shows the traceback)')
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]

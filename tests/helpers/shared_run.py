# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A session fixture computed once per test run, also under pytest-xdist.

With ``-n N`` every worker is its own session, so a plain session fixture
(training the demo models, running the demo pipeline) would run N times.
:func:`once_per_run` makes the first worker that needs the result compute it
into a folder shared by all workers (next to their base temp folders) while
the others wait on a file lock (bounded: ``timeout`` seconds, then a clear
error), then read the same folder. Without xdist it is a plain call.
"""
import json
import os.path as osp

from filelock import FileLock, Timeout


def shared_dir(tmp_path_factory, name):
    """The folder of ``name`` that every xdist worker of this run sees."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if osp.basename(str(base)).startswith('popen-gw') \
        else base
    path = root / f'shared-{name}'
    return path


def once_per_run(tmp_path_factory, name, make, timeout=1800):
    """Run ``make(out_dir) -> dict`` once per test run; the dict it returned.

    Args:
        tmp_path_factory: pytest's fixture.
        name (str): Names the shared folder and its lock.
        make (callable): Writes into ``out_dir`` (a ``pathlib.Path`` that
            exists) and returns a JSON-serialisable dict.
        timeout (float): Seconds a worker waits for another one's run.

    Returns:
        tuple: ``(out_dir, result)``.
    """
    out = shared_dir(tmp_path_factory, name)
    done = out.with_name(out.name + '.json')
    try:
        with FileLock(str(out) + '.lock', timeout=timeout):
            if not done.exists():
                out.mkdir(parents=True, exist_ok=True)
                result = make(out)
                done.write_text(json.dumps(result))
    except Timeout:
        raise RuntimeError(
            f'waited {timeout} s for another test worker to make {out}; '
            'see that worker\'s failure') from None
    return out, json.loads(done.read_text())

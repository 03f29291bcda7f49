# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Shared pytest fixtures.

Tests run on CPU with small models and the real demo images, which are read
from ``../shared/datasets/ecdl-demo`` next to the repository (never copied into
it). Set ``ECDL_DEMO_ROOT`` to point elsewhere.
"""
import os
import os.path as osp

import pytest
import torch

from ecdl_mm.utils.demo_data import default_demo_root

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_ROOT = default_demo_root(REPO_ROOT)


def pytest_configure(config):
    # Two cores here: keep intra-op threads bounded so parallel helpers and
    # subprocess tests do not oversubscribe the machine.
    torch.set_num_threads(min(2, torch.get_num_threads()))


# The files that take longest (docs/benchmarks.md, "The test suite"), run
# first: pytest-xdist (``--dist loadfile``) hands files to the workers in
# collection order, so a long file collected last (tests/test_tools sorts
# late) would run alone at the end while the other workers idle.
LONGEST_FIRST = (
    'test_tools/test_readme_commands.py',
    'test_tools/test_own_cohort.py',
    'test_tools/test_reader_app_browser.py',
    'test_tools/test_train_test_tools.py',
    'test_tools/test_benchmark_models.py',
    'test_tools/test_realtime.py',
    'test_evaluation/test_distributed_lesion_eval.py',
    'test_tools/test_reader_app.py',
)


def pytest_collection_modifyitems(session, config, items):
    """Longest files first (see ``LONGEST_FIRST``); the rest keep their
    order."""

    def rank(item):
        path = item.path.as_posix()
        for i, name in enumerate(LONGEST_FIRST):
            if path.endswith(name):
                return i
        return len(LONGEST_FIRST)

    items[:] = sorted(items, key=rank)  # stable: files stay together


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope='session')
def demo_root():
    if not osp.isdir(DEMO_ROOT):
        pytest.fail(
            f'demo dataset not found at {DEMO_ROOT}; set ECDL_DEMO_ROOT')
    return DEMO_ROOT


@pytest.fixture
def free_port():
    """A TCP port nothing listens on now, for torchrun's rendezvous."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


@pytest.fixture(scope='session')
def run_tool(repo_root):
    """Run a repo script in a subprocess (the venv's python); the result.

    ``tests/helpers`` is put on PYTHONPATH so configs can custom-import
    test-only components. Each run pays 4-5 s of imports: use it where the
    process is the point (a README command as typed, a shell script, a
    kill or signal, ``torchrun``); ``run_script`` runs a tool in-process.
    """
    import subprocess
    import sys

    def run(args, check=True, timeout=600, env=None, cwd=None):
        full_env = dict(os.environ)
        full_env['PYTHONPATH'] = os.pathsep.join([
            osp.join(repo_root, 'tests', 'helpers'), repo_root,
            full_env.get('PYTHONPATH', '')
        ])
        full_env.setdefault('OMP_NUM_THREADS', '1')
        full_env.update(env or {})
        cmd = list(args)
        if cmd[0].endswith('.py'):
            cmd = [sys.executable] + cmd
            if cwd is not None and not osp.isabs(cmd[1]):
                cmd[1] = osp.join(repo_root, cmd[1])
        proc = subprocess.run(
            cmd,
            cwd=cwd or repo_root,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f'{" ".join(cmd)} exited {proc.returncode}\n'
                                 f'--- stdout ---\n{proc.stdout[-4000:]}\n'
                                 f'--- stderr ---\n{proc.stderr[-4000:]}')
        return proc

    return run


class _Exploit:
    """Unpickling this runs a shell command that creates ``marker``: what a
    hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class CheckpointServer:
    """Serves the files of ``root`` on ``http://127.0.0.1:<free port>``.

    Attributes:
        root (str): The served folder.
        marker (str): The file an evil checkpoint's pickle would create.
        cache_dir (str): ``$TORCH_HOME/hub/checkpoints`` of the test.
        requests (list[str]): Paths requested so far.
    """

    def __init__(self, root, marker, cache_dir):
        import functools
        import http.server
        import threading
        self.root, self.marker, self.cache_dir = (str(root), str(marker),
                                                  str(cache_dir))
        os.makedirs(self.root, exist_ok=True)
        self.requests = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):

            def log_message(self, *args):  # keep test output clean
                requests.append(self.path)

        self._server = http.server.ThreadingHTTPServer(
            ('127.0.0.1', 0), functools.partial(Handler, directory=self.root))
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base = f'http://127.0.0.1:{self._server.server_address[1]}'

    def url(self, name):
        return f'{self.base}/{name}'

    def save(self, name, obj):
        """``torch.save`` ``obj`` as the served file ``name``; its URL."""
        torch.save(obj, osp.join(self.root, name))
        return self.url(name)

    def evil(self, name='evil.pth', payload=None):
        """A checkpoint that looks normal but would create :attr:`marker`
        when unpickled without ``weights_only``; its URL."""
        payload = dict(payload or {'state_dict': {'w': torch.ones(2)}})
        payload['meta'] = {'hook': _Exploit(self.marker)}
        return self.save(name, payload)

    def cached_files(self):
        """Everything in the torch hub cache (partial downloads included)."""
        if not osp.isdir(self.cache_dir):
            return []
        return sorted(os.listdir(self.cache_dir))

    def close(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def checkpoint_server(tmp_path, monkeypatch):
    """A local HTTP server for checkpoints, stopped after the test.

    ``TORCH_HOME`` points into ``tmp_path`` (also for subprocesses), so the
    real torch hub cache is never touched.
    """
    torch_home = tmp_path / 'torch_home'
    monkeypatch.setenv('TORCH_HOME', str(torch_home))
    server = CheckpointServer(tmp_path / 'served', tmp_path / 'pwned',
                              torch_home / 'hub' / 'checkpoints')
    yield server
    server.close()


@pytest.fixture(scope='session')
def mmpretrain_vit():
    """mmpretrain's ViT classifier computing what a tiny ECViT computes
    (``helpers.mmpretrain_reference_vit``), built once."""
    from helpers import mmpretrain_reference_vit
    return mmpretrain_reference_vit()


@pytest.fixture
def run_script(repo_root, capfd):
    """Run a repo script in this process, as ``python tools/x.py ARGS``
    would (``runpy``, :func:`helpers.in_process.run_in_process`), for tests
    of what a tool does rather than of its process; returns
    ``returncode``, ``stdout`` and ``stderr`` like ``run_tool`` (and takes
    its ``check``, ``env`` and ``cwd``: the repository by default). What the
    tool changes globally is undone afterwards.
    """
    from helpers.in_process import run_in_process

    def run(args, check=True, env=None, cwd=None):
        script = osp.join(repo_root, str(args[0]))
        proc = run_in_process(
            script, args[1:], capfd, cwd=cwd or repo_root, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(
                f'{" ".join(map(str, args))} exited {proc.returncode}\n'
                f'--- stdout ---\n{proc.stdout[-4000:]}\n'
                f'--- stderr ---\n{proc.stderr[-4000:]}')
        return proc

    return run

"""Shared pytest fixtures.

Tests run on CPU with small models and the real demo images, which are read from
``../shared/datasets/ecdl-demo`` next to the repository (never copied into it).
Set ``ECDL_DEMO_ROOT`` to point elsewhere.
"""
import os
import os.path as osp

import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_ROOT = os.environ.get(
    'ECDL_DEMO_ROOT',
    osp.join(osp.dirname(REPO_ROOT), 'shared', 'datasets', 'ecdl-demo'))


def pytest_configure(config):
    # Two cores here: keep intra-op threads bounded so parallel helpers and
    # subprocess tests do not oversubscribe the machine.
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope='session')
def demo_root():
    if not osp.isdir(DEMO_ROOT):
        pytest.fail(f'demo dataset not found at {DEMO_ROOT}; set ECDL_DEMO_ROOT')
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
    """Run a repo script in a subprocess (the venv's python), return the result.

    ``tests/helpers`` is put on PYTHONPATH so configs can custom-import test-only
    components.
    """
    import subprocess
    import sys

    def run(args, check=True, timeout=600, env=None):
        full_env = dict(os.environ)
        full_env['PYTHONPATH'] = os.pathsep.join(
            [osp.join(repo_root, 'tests', 'helpers'), repo_root,
             full_env.get('PYTHONPATH', '')])
        full_env.setdefault('OMP_NUM_THREADS', '1')
        full_env.update(env or {})
        cmd = list(args)
        if cmd[0].endswith('.py'):
            cmd = [sys.executable] + cmd
        proc = subprocess.run(
            cmd, cwd=repo_root, env=full_env, capture_output=True, text=True,
            timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f'{" ".join(cmd)} exited {proc.returncode}\n'
                f'--- stdout ---\n{proc.stdout[-4000:]}\n'
                f'--- stderr ---\n{proc.stderr[-4000:]}')
        return proc

    return run

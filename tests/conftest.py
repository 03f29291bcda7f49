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

"""Safe loading (allow-list, no arbitrary pickles), atomic writes."""
import argparse
import os

import numpy as np
import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint

import ecdl_mm  # noqa: F401  (registers the guards)
from ecdl_mm.utils import AtomicLocalBackend, UnsafeCheckpointError, safe_load


class _Exploit:
    """Unpickling this calls os.system: what a hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_malicious_checkpoint_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({
        'state_dict': {
            'w': torch.ones(2)
        },
        'x': _Exploit(marker)
    }, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        safe_load(path)
    msg = str(err.value)
    assert str(path) in msg
    assert 'system' in msg and 'allow-list' in msg
    assert not marker.exists()

    # the same guard sits under mmengine's own loader (resume, load_from,
    # init_cfg)
    model = torch.nn.Linear(2, 2)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(model, str(path))
    assert not marker.exists()


def test_getattr_is_limited_to_history_buffer_methods(tmp_path):
    """builtins.getattr is served by a stand-in that only returns
    HistoryBuffer's statistics methods, so it cannot reach other attributes."""

    class Sneaky:

        def __reduce__(self):
            return (getattr, (np.ndarray, '__class__'))

    path = tmp_path / 'sneaky.pth'
    torch.save({'x': Sneaky()}, path)
    with pytest.raises(UnsafeCheckpointError):
        safe_load(path)


def test_allow_listed_objects_round_trip(tmp_path):
    buf = HistoryBuffer()
    buf.update(1.5)
    buf.update(2.5)
    obj = {
        'buffer': buf,
        'array': np.arange(4, dtype=np.float32),
        'scalar': np.float64(3.25),
        'int': np.int64(7),
        'args': argparse.Namespace(lr=1e-3, model='vit_base_patch16'),
        'state_dict': {
            'w': torch.arange(3.)
        },
    }
    path = tmp_path / 'ok.pth'
    torch.save(obj, path)
    out = safe_load(path)
    assert out['buffer'].mean() == pytest.approx(2.0)
    np.testing.assert_array_equal(out['array'], obj['array'])
    assert out['scalar'] == 3.25 and out['int'] == 7
    assert out['args'].lr == 1e-3 and out['args'].model == 'vit_base_patch16'
    torch.testing.assert_close(out['state_dict']['w'], torch.arange(3.))


def test_atomic_backend_never_leaves_a_partial_file(tmp_path, monkeypatch):
    backend = get_file_backend(
        str(tmp_path), backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)
    target = tmp_path / 'epoch_1.pth'
    backend.put(b'old complete checkpoint', target)

    # Die in the middle of the next save (after the bytes were written, before
    # the rename): the previous file must be intact and no temp file left.
    def crash(fd):
        raise KeyboardInterrupt('killed during save')

    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'new but never finished', target)
    monkeypatch.undo()
    assert target.read_bytes() == b'old complete checkpoint'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_1.pth']

    backend.put_text('epoch_1.pth', tmp_path / 'last_checkpoint')
    assert (tmp_path / 'last_checkpoint').read_text() == 'epoch_1.pth'


def test_default_runtime_uses_atomic_checkpoints(repo_root):
    from mmengine.config import Config
    cfg = Config.fromfile(f'{repo_root}/configs/_base_/default_runtime.py')
    assert cfg.default_hooks.checkpoint.backend_args == dict(
        backend='atomic_local')

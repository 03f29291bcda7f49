# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Safe loading (allow-list, no arbitrary pickles), atomic writes."""
import argparse
import collections
import os

import numpy as np
import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint

import ecdl_mm  # noqa: F401  (registers the guards)
from ecdl_mm.utils import (AtomicLocalBackend, CheckpointKindError,
                           UnsafeCheckpointError, check_checkpoint_fits,
                           load_model_checkpoint, safe_load)


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


def _classifier():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        collections.OrderedDict(
            backbone=torch.nn.Linear(4, 3), head=torch.nn.Linear(3, 2)))


def test_checkpoint_that_does_not_fit_is_refused(tmp_path):
    model = _classifier()
    full = model.state_dict()
    # extra keys (a decoder) and a `module.` prefix are fine
    check_checkpoint_fits(
        model, {
            'state_dict': {
                **{
                    f'module.{k}': v
                    for k, v in full.items()
                }, 'neck.w': torch.ones(1)
            }
        })

    pretrain = {k: v for k, v in full.items() if k.startswith('backbone.')}
    pretrain['neck.w'] = torch.ones(1)
    with pytest.raises(CheckpointKindError) as err:
        check_checkpoint_fits(model, {'state_dict': pretrain}, 'mae.pth')
    msg = str(err.value)
    assert "'mae.pth' does not fit the model" in msg
    assert "2 of the model's 4 weights are missing (head.weight, head.bias)" \
        in msg
    assert 'it holds backbone., neck. weights' in msg

    wrong = dict(full, **{'head.weight': torch.zeros(5, 3)})
    with pytest.raises(
            CheckpointKindError, match=r'head.weight \(5, 3\) '
            r'vs \(2, 3\)'):
        check_checkpoint_fits(model, wrong)
    with pytest.raises(CheckpointKindError, match='not a model checkpoint'):
        check_checkpoint_fits(model, [1, 2, 3], 'results.pkl')
    with pytest.raises(CheckpointKindError, match="keys \\['epoch'\\]"):
        check_checkpoint_fits(model, {'epoch': 3})


def test_load_model_checkpoint(tmp_path):
    model, other = _classifier(), _classifier()
    torch.nn.init.zeros_(other.head.weight)
    path = tmp_path / 'ok.pth'
    torch.save(
        {
            'state_dict': other.state_dict(),
            'meta': {
                'dataset_meta': {
                    'classes': ('a', 'b')
                }
            }
        }, path)
    load_model_checkpoint(model, str(path))
    assert torch.equal(model.head.weight, torch.zeros(2, 3))
    assert model._dataset_meta == {'classes': ('a', 'b')}

    torch.save({'state_dict': {'backbone.weight': torch.ones(3, 4)}}, path)
    with pytest.raises(CheckpointKindError):
        load_model_checkpoint(model, str(path))
    assert torch.equal(model.head.weight, torch.zeros(2, 3))  # untouched


def test_not_a_torch_file(tmp_path):
    path = tmp_path / 'image.pth'
    path.write_bytes(b'\xff\xd8\xff\xe0' + bytes(range(256)) * 4)
    with pytest.raises(CheckpointKindError, match='not a PyTorch checkpoint'):
        safe_load(path)
    import zipfile
    with zipfile.ZipFile(tmp_path / 'a.zip', 'w') as z:
        z.writestr('a.txt', 'x')
        z.writestr('b.txt', 'y')
    with pytest.raises(CheckpointKindError, match='a.zip'):
        safe_load(tmp_path / 'a.zip')

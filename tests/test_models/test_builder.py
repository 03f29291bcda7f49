# Copyright (c) ecdl_mm contributors. All rights reserved.
"""ecdl_mm.models.load_model: the one model-building path of inference."""
import os.path as osp

import pytest
import torch
from helpers import CLASSES, TINY_CONFIG, save_tiny_checkpoint

from ecdl_mm.models import load_model
from ecdl_mm.utils import ConfigError, UnsafeCheckpointError


def test_weights_classes_preprocessor_and_eval(repo_root, tmp_path):
    ckpt = tmp_path / 'tiny.pth'
    save_tiny_checkpoint(repo_root, ckpt, seed=3)
    model = load_model(osp.join(repo_root, TINY_CONFIG), ckpt)
    saved = torch.load(ckpt, weights_only=True)['state_dict']
    own = model.state_dict()
    assert own.keys() == saved.keys()
    for key in saved:
        torch.testing.assert_close(own[key], saved[key], rtol=0, atol=0)
    assert not model.training
    assert list(model._dataset_meta['classes']) == list(CLASSES)
    # the config's top-level data_preprocessor reached the model
    cfg = model._config
    assert cfg.model.data_preprocessor == cfg.data_preprocessor
    mean = torch.tensor(cfg.data_preprocessor['mean']).view(-1, 1, 1)
    torch.testing.assert_close(model.data_preprocessor.mean, mean)


def test_cfg_options_checked_and_merged(repo_root, tmp_path):
    cfg = osp.join(repo_root, TINY_CONFIG)
    model = load_model(cfg, cfg_options={'model.head.num_classes': 5})
    assert model.head.num_classes == 5
    with pytest.raises(ConfigError, match='model.head.num_clases'):
        load_model(cfg, cfg_options={'model.head.num_clases': 5})


def test_unsafe_and_unfitting_checkpoints_refused(repo_root, tmp_path):
    cfg = osp.join(repo_root, TINY_CONFIG)
    marker = tmp_path / 'pwned'

    class Exploit:

        def __reduce__(self):
            import os
            return (os.system, (f'touch {marker}', ))

    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': {'x': Exploit()}}, evil)
    with pytest.raises(UnsafeCheckpointError):
        load_model(cfg, evil)
    assert not marker.exists()
    partial = tmp_path / 'partial.pth'
    save_tiny_checkpoint(repo_root, partial)
    state = torch.load(partial, weights_only=True)
    state['state_dict'] = {
        k: v
        for k, v in state['state_dict'].items() if not k.startswith('head.')
    }
    torch.save(state, partial)
    with pytest.raises(Exception, match='head'):
        load_model(cfg, partial)


def test_checkpoint_true_is_the_configs_load_from(repo_root, tmp_path):
    """``checkpoint=True`` (the inferencers' ``pretrained=True``) loads the
    config's ``load_from``; without one, and with False, the built weights
    stay."""
    from mmengine.config import Config
    ckpt = tmp_path / 'tiny.pth'
    save_tiny_checkpoint(repo_root, ckpt, seed=5)
    saved = torch.load(ckpt, weights_only=True)['state_dict']
    cfg = Config.fromfile(osp.join(repo_root, TINY_CONFIG))
    cfg.load_from = str(ckpt)
    own = load_model(cfg, True).state_dict()
    for key in saved:
        torch.testing.assert_close(own[key], saved[key], rtol=0, atol=0)
    key = 'head.fc.weight'
    for checkpoint in (False, None):
        torch.manual_seed(0)
        built = load_model(cfg, checkpoint).state_dict()[key]
        assert not torch.equal(built, saved[key])
    cfg.load_from = None
    torch.manual_seed(0)
    assert torch.equal(load_model(cfg, True).state_dict()[key], built)
    cfg.load_from = str(tmp_path / 'gone.pth')
    with pytest.raises(FileNotFoundError, match='gone.pth'):
        load_model(cfg, True)

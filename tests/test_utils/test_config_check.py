"""check_config reports every problem with the config field that holds it."""
import os.path as osp

import pytest
from mmengine.config import Config

import ecdl_mm  # noqa: F401
from ecdl_mm.utils import ConfigError, check_config


@pytest.fixture
def cfg(repo_root, demo_root):
    cfg = Config.fromfile(
        osp.join(repo_root, 'tests/data/tiny_resnet_demo.py'))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = demo_root
    return cfg


def test_valid_config_passes(cfg):
    check_config(cfg)


def test_unknown_types_are_named_with_suggestions(cfg):
    cfg.model.backbone.type = 'ResNett'
    cfg.train_dataloader.dataset.pipeline[1].type = 'Resise'
    cfg.val_evaluator = [dict(type='Accuracy'), dict(type='LesionMetrik')]
    cfg.param_scheduler = [dict(type='CosineAnealingLR')]
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    msg = str(err.value)
    assert "model.backbone.type='ResNett' is not registered" in msg
    assert "Did you mean 'ResNet'" in msg
    assert "train_dataloader.dataset.pipeline[1].type='Resise'" in msg
    assert "val_evaluator[1].type='LesionMetrik'" in msg
    assert "param_scheduler[0].type='CosineAnealingLR'" in msg


def test_missing_paths_are_named(cfg, tmp_path):
    cfg.val_dataloader.dataset.data_root = str(tmp_path / 'nope')
    cfg.train_dataloader.dataset.ann_file = 'missing_split.csv'
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    msg = str(err.value)
    assert f"val_dataloader.dataset.data_root='{tmp_path / 'nope'}'" in msg
    assert "train_dataloader.dataset.ann_file='missing_split.csv' does not " \
        'exist' in msg


def test_num_classes_checks(cfg):
    cfg.model.head.num_classes = 5
    cfg.train_dataloader.dataset.metainfo = dict(
        classes=('adenomas', 'invasive_cancer', 'non-neoplastic'))
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    msg = str(err.value)
    assert 'model.head.num_classes=5 but train_dataloader.dataset has 3 ' \
        'classes' in msg
    assert 'data_preprocessor.num_classes=3' in msg

    cfg.model.head.num_classes = -1
    with pytest.raises(ConfigError, match='must be a positive integer'):
        check_config(cfg)


def test_test_phase_ignores_training_fields(cfg):
    cfg.train_dataloader.dataset.data_root = '/does/not/matter/for/test'
    cfg.optim_wrapper.optimizer.type = 'NotAnOptimizer'
    check_config(cfg, phase='test')
    with pytest.raises(ConfigError, match='optim_wrapper.optimizer.type'):
        check_config(cfg, phase='train')


def test_num_classes_against_ecnbi_dataset_classes(repo_root, demo_root):
    cfg = Config.fromfile(
        osp.join(repo_root,
                 'configs/ecdl/resnet18-tiny_1xb8-10e_ecnbi-demo-64px.py'))
    for split in ('train', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = demo_root
    check_config(cfg)
    cfg.model.head.num_classes = 4
    cfg.data_preprocessor.num_classes = 4
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert ("model.head.num_classes=4 but train_dataloader.dataset has 3 "
            "classes ['adenomas', 'invasive_cancer', 'non-neoplastic']"
            in str(err.value))


def test_amp_without_gpu_is_reported(cfg, monkeypatch):
    import ecdl_mm.utils.config_check as config_check
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    monkeypatch.setattr(config_check, 'get_device', lambda: 'cpu')
    with pytest.raises(
            ConfigError,
            match=r"optim_wrapper.type='AmpOptimWrapper' "
            r'\(--amp\) needs a GPU'):
        check_config(cfg)
    monkeypatch.setattr(config_check, 'get_device', lambda: 'cuda')
    check_config(cfg)
    check_config(cfg, phase='test')  # testing never builds the optimizer


def test_clustering_head_and_centre_hook_need_each_other(cfg):
    cfg.model.head = dict(
        type='SupervisedClusteringHead', num_classes=3, in_channels=64)
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert ("model.head.type='SupervisedClusteringHead' needs "
            "custom_hooks=[dict(type='ClassCenterHook')]" in str(err.value))
    cfg.custom_hooks = [dict(type='ClassCenterHook')]
    check_config(cfg)
    check_config(cfg, phase='test')

    cfg.model.head = dict(type='LinearClsHead', num_classes=3,
                          in_channels=64)
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert ("custom_hooks[0].type='ClassCenterHook' needs "
            "model.head.type='SupervisedClusteringHead', got 'LinearClsHead'"
            in str(err.value))

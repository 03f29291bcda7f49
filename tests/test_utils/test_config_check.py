# Copyright (c) ecdl_mm contributors. All rights reserved.
"""check_config reports every problem with the config field that holds it."""
import copy
import os
import os.path as osp

import pytest
from mmengine.config import Config

import ecdl_mm  # noqa: F401
from ecdl_mm.utils import (ConfigError, MissingCheckpointError,
                           check_checkpoint_paths, check_config)


@pytest.fixture
def cfg(repo_root, demo_root):
    cfg = Config.fromfile(
        osp.join(repo_root, 'tests/data/tiny_resnet_demo.py'))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = demo_root
    return cfg


# One fault per field kind the checker covers: (field, value, message start).
SINGLE_FAULTS = [
    ('model.backbone.type', 'ResNett', "model.backbone.type='ResNett'"),
    ('model.head.loss.type', 'CrossEntropy',
     "model.head.loss.type='CrossEntropy'"),
    ('train_dataloader.dataset.pipeline.1.type', 'Resise',
     "train_dataloader.dataset.pipeline[1].type='Resise'"),
    ('train_dataloader.sampler.type', 'DefaultSamplr',
     "train_dataloader.sampler.type='DefaultSamplr'"),
    ('test_dataloader.dataset.data_root', '/no/such/dir',
     "test_dataloader.dataset.data_root='/no/such/dir' is not a directory"),
    ('val_evaluator.type', 'Acuracy', "val_evaluator[0].type='Acuracy'"),
    ('default_hooks.logger.type', 'LoggerHok',
     "default_hooks.logger.type='LoggerHok'"),
    ('optim_wrapper.optimizer.type', 'SDG',
     "optim_wrapper.optimizer.type='SDG'"),
    ('param_scheduler.type', 'MultiStepLRR',
     "param_scheduler[0].type='MultiStepLRR'"),
    ('model.head.num_classes', 0,
     'model.head.num_classes=0 must be a positive integer'),
]


def test_valid_config_passes_and_each_planted_fault_is_the_only_report(cfg):
    """The demo config is valid (no report) and the checker really reads
    every kind of field: a single planted fault is reported, alone."""
    check_config(cfg)
    check_config(cfg, phase='test')
    for field, value, message in SINGLE_FAULTS:
        bad = copy.deepcopy(cfg)
        bad.merge_from_dict({field: value})
        with pytest.raises(ConfigError) as err:
            check_config(bad)
        lines = str(err.value).splitlines()
        assert lines[0] == 'Invalid config:', field
        assert len(lines) == 2 and lines[1].startswith(f'  - {message}'), (
            field, lines)


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


def test_missing_checkpoints_name_the_stage_that_writes_them(
        cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs('configs/ecdl')
    open('configs/ecdl/stage2_demo.py', 'w').close()
    cfg.model.backbone.init_cfg = [
        dict(type='Kaiming', layer='Conv2d'),
        dict(
            type='Pretrained',
            checkpoint='work_dirs/stage2_demo/epoch_20.pth',
            prefix='backbone.')
    ]
    check_checkpoint_paths(cfg, phase='test')  # no init at test time
    with pytest.raises(MissingCheckpointError) as err:
        check_checkpoint_paths(cfg, phase='train')
    assert str(err.value) == (
        "checkpoint 'work_dirs/stage2_demo/epoch_20.pth' "
        '(model.backbone.init_cfg[1].checkpoint) not found (looked for '
        f'{tmp_path}/work_dirs/stage2_demo/epoch_20.pth): run '
        '`python tools/train.py configs/ecdl/stage2_demo.py` first')

    # a shorter stage-2 run left another epoch: say so
    os.makedirs('work_dirs/stage2_demo')
    open('work_dirs/stage2_demo/epoch_10.pth', 'w').close()
    with pytest.raises(
            MissingCheckpointError,
            match=r'first \(\S+'
            r'work_dirs/stage2_demo holds epoch_10.pth\)'):
        check_checkpoint_paths(cfg)

    open('work_dirs/stage2_demo/epoch_20.pth', 'w').close()
    check_checkpoint_paths(cfg)
    cfg.load_from = 'work_dirs/unknown_config/epoch_1.pth'
    with pytest.raises(MissingCheckpointError) as err:
        check_checkpoint_paths(cfg, phase='test')
    assert str(err.value).startswith(
        "checkpoint 'work_dirs/unknown_config/epoch_1.pth' (load_from) not "
        'found (looked for ')
    assert 'run `' not in str(err.value)
    cfg.load_from = 'https://example.org/weights.pth'  # left to the loader
    check_checkpoint_paths(cfg)


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

    cfg.model.head = dict(type='LinearClsHead', num_classes=3, in_channels=64)
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert ("custom_hooks[0].type='ClassCenterHook' needs "
            "model.head.type='SupervisedClusteringHead', got 'LinearClsHead'"
            in str(err.value))

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""configs/baselines: the ImageNet baselines resolve offline on the EC-DL
splits and recipe of evaluation, with weights from mmpretrain's metafiles;
their tiny random-init variants build and train on the demo."""
import glob
import os.path as osp

import mmpretrain
import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

EC_DL = 'configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py'
FULL = {
    'resnet50_in1k-pre_8xb8-100e_ecnbi': ('resnet', 'ResNet'),
    'densenet121_in1k-pre_8xb8-100e_ecnbi': ('densenet', 'DenseNet'),
    'efficientnet-b0_in1k-pre_8xb8-100e_ecnbi':
    ('efficientnet', 'EfficientNet'),
    'swin-tiny_in1k-pre_8xb8-100e_ecnbi':
    ('swin_transformer', 'SwinTransformer'),
    'convnext-tiny_in1k-pre_8xb8-100e_ecnbi': ('convnext', 'ConvNeXt'),
    'deit-base-p16_in1k-pre_8xb8-100e_ecnbi': ('deit', 'VisionTransformer'),
}
TINY = sorted(
    osp.splitext(osp.basename(p))[0] for p in glob.glob(
        osp.join(
            osp.dirname(osp.dirname(osp.dirname(__file__))), 'configs',
            'baselines', '*_ecnbi-demo-64px.py')))


def _metafile_weights(folder):
    path = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'configs', folder,
        'metafile.yml')
    with open(path) as f:
        return {m.get('Weights') for m in yaml.safe_load(f)['Models']}


def _datasets(cfg):
    return [(k, cfg[k].dataset)
            for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


@pytest.mark.parametrize('name', sorted(FULL))
def test_full_baselines_use_the_ecdl_splits(repo_root, name):
    folder, backbone = FULL[name]
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs', 'baselines', f'{name}.py'))
    ref = Config.fromfile(osp.join(repo_root, EC_DL))
    assert cfg.model.backbone.type == backbone
    assert cfg.model.head.num_classes == 3
    # ImageNet weights: a URL of mmpretrain's own metafile for the family
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and init.prefix == 'backbone.'
    assert init.checkpoint.startswith('https://download.openmmlab.com/')
    assert init.checkpoint in _metafile_weights(folder)
    # the same sheets, transforms, leakage checks and evaluation as EC-DL
    for (key, ds), (_, ref_ds) in zip(_datasets(cfg), _datasets(ref)):
        assert ds.to_dict() == ref_ds.to_dict(), key
    assert cfg.val_evaluator == ref.val_evaluator
    assert cfg.test_evaluator == ref.test_evaluator
    assert cfg.data_preprocessor == ref.data_preprocessor
    for key in ('save_best', 'rule'):
        assert cfg.default_hooks.checkpoint[key] == \
            ref.default_hooks.checkpoint[key]
    assert cfg.train_cfg.val_interval == 1
    # EC-DL trains without mixup / cutmix; so do the baselines
    assert not (cfg.model.get('train_cfg') or {}).get('augments')
    # the full-size model itself (random init: no download) gives 3 logits
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 224, 224), mode='tensor').shape == \
            (1, 3)


@pytest.fixture(scope='module')
def demo_overrides(demo_root, tmp_path_factory):
    """One epoch (3 iterations of 8) on demo_train, no checkpoints."""
    return dict(
        work_dir=str(tmp_path_factory.mktemp('tiny_baselines')),
        train_cfg=dict(max_epochs=1),
        default_hooks=dict(checkpoint=dict(interval=100)),
        train_dataloader=dict(dataset=dict(data_root=demo_root)),
        test_dataloader=dict(dataset=dict(data_root=demo_root)))


@pytest.mark.parametrize('name', TINY)
def test_tiny_baselines_train_on_the_demo(repo_root, demo_overrides, name):
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs', 'baselines', f'{name}.py'))
    assert 'Pretrained' not in str(cfg.model)  # random init
    cfg.merge_from_dict(demo_overrides)
    cfg.work_dir = osp.join(cfg.work_dir, name)
    cfg.experiment_name = name
    runner = Runner.from_cfg(cfg)
    before = {
        k: v.detach().clone()
        for k, v in runner.model.named_parameters()
    }
    runner.train()
    assert runner.iter == 3  # 20 demo_train images, batch 8
    moved = [
        k for k, v in runner.model.named_parameters()
        if not torch.equal(v.detach(), before[k])
    ]
    assert any(k.startswith('backbone.') for k in moved)
    assert 'head.fc.weight' in moved or 'head.layers.head.weight' in moved

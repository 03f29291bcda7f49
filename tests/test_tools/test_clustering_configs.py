"""The EC-DL clustering fine-tuning configs build and chain onto the ECMAE stage."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import ecdl_mm  # noqa: F401
from ecdl_mm.models.heads import SupervisedClusteringHead
from mmpretrain.registry import DATASETS, MODELS

CONFIGS = {
    'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py': (768, 300),
    'ecdl-clustering_vit-base-p16_8xb8-cbs-300e_ecnbi.py': (768, 300),
    'ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py': (96, 30),
}
# fine-tuning config -> the ECMAE config whose checkpoint it starts from
PRETRAIN = {
    'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py':
    'ecmae_vit-base-p16_8xb64-coslr-400e_ecnbi.py',
    'ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py':
    'ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py',
}


def load(repo_root, name):
    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'ecdl', name))
    init_default_scope('mmpretrain')
    return cfg


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_has_ecdl_recipe(repo_root, name):
    cfg = load(repo_root, name)
    channels, epochs = CONFIGS[name]
    cfg.model.backbone.init_cfg = None  # no checkpoint needed to build
    model = MODELS.build(cfg.model)
    assert isinstance(model.head, SupervisedClusteringHead)
    assert model.head.in_channels == channels == model.backbone.embed_dims
    assert cfg.model.head.loss.label_smooth_val == 0.1
    assert cfg.model.head.center_loss.temperature == 0.07
    assert cfg.model.head.center_loss.loss_weight == 1.0
    assert cfg.model.backbone.drop_path_rate == 0.1
    assert [h.type for h in cfg.custom_hooks] == ['ClassCenterHook']
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.75
    cosine = cfg.param_scheduler[-1]
    assert cosine.type == 'CosineAnnealingLR' and cosine.eta_min == 1e-6
    assert cosine.end == epochs
    dataset = cfg.train_dataloader.dataset
    pipeline = dataset.get('dataset', dataset).pipeline
    rand_aug = [t for t in pipeline if t.type == 'RandAugment'][0]
    assert (rand_aug.magnitude_level, rand_aug.magnitude_std,
            rand_aug.policies) == (9, 0.5, 'timm_increasing')
    assert [t for t in pipeline
            if t.type == 'RandomErasing'][0].erase_prob == 0.25


@pytest.mark.parametrize('name', sorted(PRETRAIN))
def test_finetune_starts_from_the_ecmae_stage(repo_root, name):
    cfg = load(repo_root, name)
    mae_name = PRETRAIN[name]
    mae = load(repo_root, mae_name)
    expected = osp.join('work_dirs', osp.splitext(mae_name)[0],
                        f'epoch_{mae.train_cfg.max_epochs}.pth')
    init = cfg.model.backbone.init_cfg
    assert (init.type, init.prefix) == ('Pretrained', 'backbone.')
    assert init.checkpoint == expected
    # same encoder shape on both sides
    for key in ('img_size', 'patch_size'):
        assert cfg.model.backbone[key] == mae.model.backbone[key]
    if isinstance(mae.model.backbone.arch, dict):
        assert dict(cfg.model.backbone.arch) == dict(mae.model.backbone.arch)


def test_class_balanced_variant_oversamples_rare_classes(repo_root,
                                                        demo_root):
    cfg = load(repo_root,
               'ecdl-clustering_vit-base-p16_8xb8-cbs-300e_ecnbi.py')
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.dataset.data_root = demo_root
    dataset = DATASETS.build(ds_cfg)
    inner = dataset.dataset
    counts = [0, 0, 0]
    for i in range(len(inner)):
        counts[inner.get_cat_ids(i)[0]] += 1
    balanced = [0, 0, 0]
    for i in range(len(dataset)):
        balanced[dataset.get_cat_ids(i)[0]] += 1
    rare = counts.index(min(counts))
    common = counts.index(max(counts))
    assert balanced[common] == counts[common]
    assert balanced[rare] > counts[rare]

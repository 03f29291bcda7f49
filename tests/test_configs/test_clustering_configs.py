# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The clustering fine-tuning configs build, chain onto their ECMAE stage and
read pairwise-disjoint train / val / test splits."""
import os.path as osp

import pandas as pd
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS, MODELS

import ecdl_mm  # noqa: F401
from ecdl_mm.models.heads import SupervisedClusteringHead

CONFIGS = {
    'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py': (768, 16),
    'ecdl-clustering_vit-base-p16_8xb8-cbs-300e_ecnbi.py': (768, 16),
    'ecdl-clustering_vit-base-p16_mocov3-pre_8xb8-300e_ecnbi.py': (768, 16),
    'ecdl-clustering_vit-base-p14_dinov2-pre_8xb8-300e_ecnbi.py': (768, 14),
    'ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py': (96, 8),
}
DEMO_FT = 'ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py'
DEMO_MAE = 'ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py'


def load(repo_root, name):
    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'ecdl', name))
    init_default_scope('mmpretrain')
    return cfg


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_builds_the_clustering_model(repo_root, name):
    cfg = load(repo_root, name)
    channels, patch = CONFIGS[name]
    cfg.model.backbone.init_cfg = None  # no checkpoint needed to build
    if channels == 768:  # ViT-B: build on the meta device, no memory
        import torch
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
    else:
        model = MODELS.build(cfg.model)
    assert isinstance(model.head, SupervisedClusteringHead)
    assert model.head.in_channels == channels == model.backbone.embed_dims
    assert model.backbone.patch_size == patch


def test_demo_finetune_starts_from_the_demo_ecmae(repo_root):
    cfg = load(repo_root, DEMO_FT)
    mae = load(repo_root, DEMO_MAE)
    expected = osp.join('work_dirs',
                        osp.splitext(DEMO_MAE)[0],
                        f'epoch_{mae.train_cfg.max_epochs}.pth')
    init = cfg.model.backbone.init_cfg
    assert (init.type, init.prefix) == ('Pretrained', 'backbone.')
    assert init.checkpoint == expected
    for key in ('img_size', 'patch_size'):
        assert cfg.model.backbone[key] == mae.model.backbone[key]
    assert dict(cfg.model.backbone.arch) == dict(mae.model.backbone.arch)


@pytest.fixture
def demo_splits(demo_root, tmp_path):
    """train / val / test sheets from the demo: demo_train, and demo_test cut
    in two."""
    book = osp.join(demo_root, 'dataset_divide.xlsx')
    train = pd.read_excel(book, sheet_name='demo_train')
    test = pd.read_excel(book, sheet_name='demo_test')
    path = tmp_path / 'splits.xlsx'
    with pd.ExcelWriter(path) as writer:
        train.to_excel(writer, sheet_name='train', index=False)
        test.iloc[:10].to_excel(writer, sheet_name='val', index=False)
        test.iloc[10:].to_excel(writer, sheet_name='test', index=False)
        # val with one lesion of test: leakage
        pd.concat([test.iloc[:10], test.iloc[10:11]]).to_excel(
            writer, sheet_name='val_leaky', index=False)
    return str(path), train, test


def _dataset_cfg(cfg, split, demo_root, ann_file):
    loader = cfg[f'{split}_dataloader']
    ds = loader.dataset
    inner = ds.get('dataset', ds)
    inner.data_root = demo_root
    inner.ann_file = ann_file
    return ds


def test_full_size_splits_build_disjoint(repo_root, demo_root, demo_splits):
    ann_file, train, test = demo_splits
    cfg = load(repo_root, 'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py')
    built = {
        split: DATASETS.build(_dataset_cfg(cfg, split, demo_root, ann_file))
        for split in ('train', 'val', 'test')
    }
    ids = {s: set(d.get_lesion_ids()) for s, d in built.items()}
    assert ids['val'] == {f'ecdl-demo/{x}' for x in test.lesion_index[:10]}
    assert ids['test'] == {f'ecdl-demo/{x}' for x in test.lesion_index[10:]}
    assert len(ids['train']) == len(train)
    assert not (ids['train'] & ids['val'] or ids['train'] & ids['test']
                or ids['val'] & ids['test'])

    # a lesion shared by val and test stops the build of either
    cfg.val_dataloader.dataset.sheet_name = 'val_leaky'
    cfg.test_dataloader.dataset.disjoint_with = ['train', 'val_leaky']
    leaked = str(test.lesion_index.iloc[10])
    for split in ('val', 'test'):
        with pytest.raises(
                ValueError, match=rf"lesion '{leaked}' is in splits"):
            DATASETS.build(_dataset_cfg(cfg, split, demo_root, ann_file))


def test_class_balanced_variant_oversamples_rare_classes(
        repo_root, demo_root, demo_splits):
    cfg = load(repo_root,
               'ecdl-clustering_vit-base-p16_8xb8-cbs-300e_ecnbi.py')
    dataset = DATASETS.build(
        _dataset_cfg(cfg, 'train', demo_root, demo_splits[0]))
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

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""model-index.yml / configs/ecdl/metafile.yml read as mim reads them
(modelindex.load_model_index.load) and agree with the configs."""
import glob
import os.path as osp

from mmengine.config import Config
from modelindex.load_model_index import load


def test_metafile_loads_and_points_at_every_config(repo_root):
    index = load(osp.join(repo_root, 'model-index.yml'))
    assert [c.name for c in index.collections] == ['EC-DL']
    collection = index.collections[0]
    assert osp.isfile(osp.join(repo_root, collection.readme))
    models = {m.name: m for m in index.models}
    # configs/ecdl and the baselines of configs/baselines
    folder = {
        osp.splitext(osp.basename(p))[0]: osp.basename(osp.dirname(p))
        for d in ('ecdl', 'baselines')
        for p in glob.glob(osp.join(repo_root, 'configs', d, '*.py'))
    }
    shipped = set(folder)
    assert set(models) == shipped  # one entry per config, none stale
    for name, model in models.items():
        assert model.in_collection == 'EC-DL'
        assert model.config == f'configs/{folder[name]}/{name}.py'
        assert osp.isfile(osp.join(repo_root, model.config))
        for down in (model.data.get('Downstream') or []):
            assert down in models, (name, down)
        cfg = Config.fromfile(osp.join(repo_root, model.config))
        if name.endswith('_headless'):
            # stage 1: the weights are the ones the config loads by URL
            assert model.weights == cfg.model.backbone.init_cfg.checkpoint
        else:
            assert model.weights is None  # nothing of ours is published
            assert model.metadata.epochs == cfg.train_cfg.max_epochs


def test_demo_results_are_the_readme_figures(repo_root):
    index = load(osp.join(repo_root, 'model-index.yml'))
    readme = open(osp.join(repo_root, 'configs', 'ecdl', 'README.md')).read()
    with_results = [m for m in index.models if m.results]
    assert {m.name
            for m in with_results} == {
                'ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px',
                'ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px'
            }
    for model in with_results:
        metrics = model.results[0].metrics
        row = [
            line for line in readme.splitlines()
            if line.startswith(f'| `{model.name}`')
        ][0]
        cells = [c.strip() for c in row.split('|')[2:5]]
        for cell, key in zip(cells, ('Lesion Accuracy', 'Lesion Macro AUC',
                                     'Lesion Macro Sensitivity')):
            assert f'{metrics[key] / 100:.2f}' == cell.split()[0], (model.name,
                                                                    key)

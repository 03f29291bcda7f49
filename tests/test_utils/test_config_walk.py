# Copyright (c) ecdl_mm contributors. All rights reserved.
"""ecdl_mm.utils.config_walk: lesion metrics in every evaluator form,
datasets inside any wrappers."""
import pytest
from mmengine.config import Config

from ecdl_mm.utils.config_walk import (evaluator_metrics, inner_dataset,
                                       lesion_metrics)

LESION = dict(type='LesionMetric', out_dir='a')
ACC = dict(type='Accuracy', topk=(1, ))


@pytest.mark.parametrize('evaluator,expected', [
    (LESION, 1),
    ([ACC, LESION], 1),
    (dict(type='Evaluator', metrics=[ACC, LESION, LESION]), 2),
    (dict(type='Evaluator', metrics=LESION), 1),
    ([dict(type='mmpretrain.LesionMetric')], 1),
    (ACC, 0),
    (None, 0),
])
def test_lesion_metrics_in_every_evaluator_form(evaluator, expected):
    cfg = Config(dict(test_evaluator=evaluator))
    found = lesion_metrics(cfg)
    assert len(found) == expected
    # the config's own dicts: setting a key sets it in the config
    for m in found:
        m['operating_point'] = 'op.json'
    ops = [
        m.get('operating_point') for m in evaluator_metrics(cfg.test_evaluator)
        if 'LesionMetric' in m['type']
    ]
    assert ops == ['op.json'] * expected


def test_inner_dataset_through_wrappers():
    inner = dict(type='ECNBIDataset', ann_file='s.xlsx', pipeline=[])
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='ClassBalancedDataset',
                    oversample_thr=0.5,
                    dataset=dict(type='RepeatDataset', times=2,
                                 dataset=inner)))))
    ds = inner_dataset(cfg.train_dataloader.dataset)
    assert ds.type == 'ECNBIDataset'
    ds.data_root = '/data'
    assert cfg.train_dataloader.dataset.dataset.dataset.data_root == '/data'
    plain = dict(type='ECNBIDataset')
    assert inner_dataset(plain) is plain

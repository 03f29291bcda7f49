import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from PIL import Image

from ecdl_mm.apis import LesionInferencer
from ecdl_mm.datasets import ECNBIDataset
from helpers import CLASSES, TINY_CONFIG, save_tiny_checkpoint

CONFIG = TINY_CONFIG


def write(path, size, mode, seed):
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path)


@pytest.fixture
def cohort(tmp_path):
    root = str(tmp_path / 'cohort')
    # lesion 1: three images of odd sizes, one grayscale (more than a batch)
    write(f'{root}/adenomas/1/Images/a.jpg', (90, 70), 'RGB', 0)
    write(f'{root}/adenomas/1/Images/b.png', (41, 97), 'L', 1)
    write(f'{root}/adenomas/1/Images/c.bmp', (64, 64), 'RGB', 2)
    write(f'{root}/non-neoplastic/2/Images/a.jpg', (120, 80), 'RGB', 3)
    return root


def test_find_lesions(cohort, tmp_path):
    found = LesionInferencer.find_lesions(cohort)
    assert list(found) == ['adenomas/1', 'non-neoplastic/2']
    assert [osp.basename(p) for p in found['adenomas/1']['images']] == \
        ['a.jpg', 'b.png', 'c.bmp']
    assert found['adenomas/1']['path'] == osp.join(cohort, 'adenomas', '1')
    # a lesion folder, its Images folder, a bare folder and a single image
    bare = str(tmp_path / 'bare')
    write(f'{bare}/x.tif', (30, 30), 'RGB', 4)
    single = osp.join(cohort, 'non-neoplastic', '2', 'Images', 'a.jpg')
    found = LesionInferencer.find_lesions([
        osp.join(cohort, 'adenomas', '1'), bare, single,
        osp.join(cohort, 'adenomas', '1', 'Images')
    ])
    assert list(found) == ['1', 'bare', 'a.jpg']
    assert len(found['1']['images']) == 3
    with pytest.raises(FileNotFoundError, match='nowhere does not exist'):
        LesionInferencer.find_lesions(str(tmp_path / 'nowhere'))
    os.makedirs(tmp_path / 'empty')
    with pytest.raises(ValueError, match='no image with extension'):
        LesionInferencer.find_lesions(str(tmp_path / 'empty'))


def test_lesion_probabilities_match_test_pipeline(repo_root, cohort,
                                                  tmp_path):
    ckpt = str(tmp_path / 'tiny.pth')
    cfg = save_tiny_checkpoint(repo_root, ckpt)
    inferencer = LesionInferencer(
        osp.join(repo_root, CONFIG), ckpt, device='cpu')
    assert tuple(inferencer.classes) == CLASSES
    results = inferencer(cohort, batch_size=2, show_progress=False)
    assert [r['lesion_id'] for r in results] == ['adenomas/1',
                                                 'non-neoplastic/2']
    assert [r['num_images'] for r in results] == [3, 1]

    # reference: dataset + test pipeline, one image per forward pass
    ds = ECNBIDataset(cohort, pipeline=cfg.test_dataloader.dataset.pipeline)
    model = inferencer.model
    per_lesion = {}
    with torch.no_grad():
        for i in range(len(ds)):
            item = ds[i]
            score = model.test_step(default_collate([item]))[0].pred_score
            per_lesion.setdefault(item['data_samples'].lesion_id,
                                  []).append(score.numpy())
    for r, lesion in zip(results, ('1', '2')):
        ref = np.mean(per_lesion[f'{ds.cohort}/{lesion}'], axis=0)
        np.testing.assert_allclose(
            list(r['probs'].values()), ref, rtol=1e-4, atol=1e-6)
        assert r['pred_class'] == CLASSES[int(ref.argmax())]
        assert r['pred_score'] == pytest.approx(float(ref.max()), rel=1e-4)
        np.testing.assert_allclose(
            [list(im['probs'].values()) for im in r['images']],
            per_lesion[f'{ds.cohort}/{lesion}'], rtol=1e-4, atol=1e-6)

    csv, js = str(tmp_path / 'o' / 'l.csv'), str(tmp_path / 'o' / 'l.json')
    LesionInferencer.dump_csv(results, csv)
    LesionInferencer.dump_json(results, js)
    import json

    import pandas as pd
    table = pd.read_csv(csv)
    assert list(table.columns) == [
        'lesion_id', 'path', 'num_images', 'prob_adenomas',
        'prob_invasive_cancer', 'prob_non-neoplastic', 'pred_label',
        'pred_class'
    ]
    assert json.load(open(js))[0]['lesion_id'] == 'adenomas/1'
    with pytest.raises(ValueError, match='batch_size=0'):
        inferencer(cohort, batch_size=0)
    with pytest.raises(ValueError, match="aggregation='avg'"):
        LesionInferencer(osp.join(repo_root, CONFIG), ckpt, aggregation='avg')


def test_num_threads(repo_root, tmp_path):
    ckpt = str(tmp_path / 'tiny.pth')
    save_tiny_checkpoint(repo_root, ckpt)
    before = torch.get_num_threads()
    try:
        LesionInferencer(
            osp.join(repo_root, CONFIG), ckpt, device='cpu', num_threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match='num_threads=0 must be a positive'):
        LesionInferencer(
            osp.join(repo_root, CONFIG), ckpt, device='cpu', num_threads=0)

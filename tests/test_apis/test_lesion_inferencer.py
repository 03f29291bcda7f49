# Copyright (c) ecdl_mm contributors. All rights reserved.
import os
import os.path as osp

import numpy as np
import pytest
import torch
from helpers import CLASSES, TINY_CONFIG, save_tiny_checkpoint
from helpers.images import write_image as write
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmpretrain.registry import TRANSFORMS

from ecdl_mm.apis import LesionInferencer, LesionInputError, LooseImagesWarning
from ecdl_mm.datasets import ECNBIDataset
from ecdl_mm.evaluation.metrics.lesion_metric import AGGREGATIONS, LesionMetric
from ecdl_mm.evaluation.operating_point import (OperatingPoint,
                                                OperatingPointError)

CONFIG = TINY_CONFIG


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
    found = LesionInferencer.find_lesions(cohort, classes=CLASSES)
    # '<cohort>/<lesion>' as ECNBIDataset / LesionMetric name them
    assert ECNBIDataset(cohort).get_lesion_ids()[0] == 'cohort/1'
    assert list(found) == ['cohort/1', 'cohort/2']
    assert [osp.basename(p) for p in found['cohort/1']['images']] == \
        ['a.jpg', 'b.png', 'c.bmp']
    assert found['cohort/1']['path'] == osp.join(cohort, 'adenomas', '1')
    assert (found['cohort/1']['gt_label'], found['cohort/2']['gt_class']) \
        == (0, 'non-neoplastic')
    # the same id from a class folder, the lesion folder, its Images folder
    # or one of its images
    lesion = osp.join(cohort, 'adenomas', '1')
    for path in (osp.join(cohort, 'adenomas'), lesion,
                 osp.join(lesion, 'Images'), osp.join(lesion, 'Images',
                                                      'b.png')):
        assert list(LesionInferencer.find_lesions(path, CLASSES)) == \
            ['cohort/1'], path
    # without the class names the Images/ folder still makes the lesion
    plain = LesionInferencer.find_lesions(cohort)
    assert list(plain) == ['adenomas/1', 'non-neoplastic/2']
    assert plain['adenomas/1']['gt_label'] is None
    with pytest.raises(FileNotFoundError, match='nowhere does not exist'):
        LesionInferencer.find_lesions(str(tmp_path / 'nowhere'))
    os.makedirs(tmp_path / 'empty')
    with pytest.raises(LesionInputError, match='no image with extension'):
        LesionInferencer.find_lesions(str(tmp_path / 'empty'))


def test_loose_images_are_never_merged_silently(cohort, tmp_path):
    flat = str(tmp_path / 'flat')
    write(f'{flat}/x.tif', (30, 30), 'RGB', 4)
    write(f'{flat}/y.jpg', (30, 30), 'RGB', 5)
    with pytest.warns(
            LooseImagesWarning,
            match=f'2 images lie directly in '
            f'{flat}: each is diagnosed as its own lesion'):
        found = LesionInferencer.find_lesions(flat, CLASSES)
    assert list(found) == ['flat/x.tif', 'flat/y.jpg']
    assert [len(v['images']) for v in found.values()] == [1, 1]
    merged = LesionInferencer.find_lesions(
        flat, CLASSES, lesion_per_folder=True)
    assert list(merged) == [f'{osp.basename(str(tmp_path))}/flat']
    assert len(merged[list(merged)[0]]['images']) == 2
    # images directly in a lesion folder of a class folder: the layout says
    # they are one lesion (no warning)
    write(f'{cohort}/adenomas/3/p.jpg', (30, 30), 'RGB', 6)
    write(f'{cohort}/adenomas/3/q.jpg', (30, 30), 'RGB', 7)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error', LooseImagesWarning)
        found = LesionInferencer.find_lesions(cohort, CLASSES)
    assert len(found['cohort/3']['images']) == 2


@pytest.fixture
def inferencer(repo_root, tmp_path):
    ckpt = str(tmp_path / 'tiny.pth')
    save_tiny_checkpoint(repo_root, ckpt)
    return LesionInferencer(osp.join(repo_root, CONFIG), ckpt, device='cpu')


def _reference_scores(cohort, inferencer, pipeline):
    """Image scores of the dataset + test pipeline, one image per forward
    pass, grouped by lesion id."""
    ds = ECNBIDataset(cohort, pipeline=pipeline)
    per_lesion = {}
    with torch.no_grad():
        for i in range(len(ds)):
            item = ds[i]
            score = inferencer.model.test_step(default_collate(
                [item]))[0].pred_score
            per_lesion.setdefault(item['data_samples'].lesion_id,
                                  []).append(score.numpy())
    return per_lesion


def test_lesion_probabilities_match_test_pipeline(repo_root, cohort,
                                                  inferencer, tmp_path):
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    assert tuple(inferencer.classes) == CLASSES
    results = inferencer(cohort, batch_size=2, show_progress=False)
    assert [r['lesion_id'] for r in results] == ['cohort/1', 'cohort/2']
    assert [r['num_images'] for r in results] == [3, 1]
    assert [(r['gt_label'], r['gt_class'])
            for r in results] == [(0, 'adenomas'), (2, 'non-neoplastic')]

    per_lesion = _reference_scores(cohort, inferencer,
                                   cfg.test_dataloader.dataset.pipeline)
    for r in results:
        ref = np.mean(per_lesion[r['lesion_id']], axis=0)
        np.testing.assert_allclose(r['pred_scores'], ref, rtol=1e-4, atol=1e-6)
        assert r['pred_label'] == int(ref.argmax())
        assert r['pred_class'] == CLASSES[int(ref.argmax())]
        assert r['pred_score'] == pytest.approx(float(ref.max()), rel=1e-4)
        np.testing.assert_allclose([im['pred_scores'] for im in r['images']],
                                   per_lesion[r['lesion_id']],
                                   rtol=1e-4,
                                   atol=1e-6)

    csv, js = str(tmp_path / 'o' / 'l.csv'), str(tmp_path / 'o' / 'l.json')
    inferencer.dump_csv(results, csv)
    LesionInferencer.dump_json(results, js)
    import json

    import pandas as pd
    table = pd.read_csv(csv)
    assert list(table.columns) == [
        'lesion_id', 'path', 'num_images', 'gt_label', 'gt_class',
        'prob_adenomas', 'prob_invasive_cancer', 'prob_non-neoplastic',
        'pred_label', 'pred_class'
    ]
    saved = json.load(open(js))
    assert saved[0]['lesion_id'] == 'cohort/1'
    np.testing.assert_allclose(saved[0]['pred_scores'],
                               results[0]['pred_scores'])
    with pytest.raises(ValueError, match='batch_size=0'):
        inferencer(cohort, batch_size=0)
    with pytest.raises(ValueError, match="aggregation='avg'"):
        LesionInferencer(osp.join(repo_root, CONFIG), False, aggregation='avg')


def test_inferencer_steps_called_directly(cohort, inferencer):
    """The BaseInferencer contract: _inputs_to_list -> preprocess ->
    forward -> postprocess, each callable on its own."""
    lesions = inferencer._inputs_to_list(cohort)
    assert [x['lesion_id'] for x in lesions] == ['cohort/1', 'cohort/2']
    batches = list(inferencer.preprocess(lesions, batch_size=3))
    # 4 images in batches of 3, across lesions
    assert [len(b['data_samples']) for b in batches] == [3, 1]
    assert [s.lesion_id for b in batches for s in b['data_samples']] == \
        ['cohort/1'] * 3 + ['cohort/2']
    preds = [p for b in batches for p in inferencer.forward(b)]
    assert all(p.pred_score.shape == (3, ) for p in preds)
    # aggregation: LesionMetric's own, 'vote' here, recomputed by hand
    inferencer.aggregation = 'vote'
    out = inferencer.postprocess(preds, None)
    scores = np.stack([p.pred_score.numpy() for p in preds])
    votes = np.bincount(scores[:3].argmax(1), minlength=3) / 3
    np.testing.assert_allclose(out[0]['pred_scores'], votes)
    assert out[1]['pred_label'] == int(scores[3].argmax())
    samples = inferencer.postprocess(preds, None, return_datasamples=True)
    assert samples[0].lesion_id == 'cohort/1'
    assert samples[0].num_images == 3
    assert int(samples[0].gt_label) == 0
    np.testing.assert_allclose(samples[0].pred_score.numpy(), votes)
    assert len(samples[0].image_samples) == 3
    # every aggregation of the metric's tuple gives the metric's numbers
    for name in AGGREGATIONS:
        inferencer.aggregation = name
        _, ref, ref_pred, _ = LesionMetric.aggregate(scores, ['a'] * 3 + ['b'],
                                                     name)
        out = inferencer.postprocess(preds, None)
        np.testing.assert_allclose([o['pred_scores'] for o in out], ref)
        assert [o['pred_label'] for o in out] == list(ref_pred)


def test_visualize_one_folder_per_lesion(cohort, inferencer, tmp_path):
    out = str(tmp_path / 'vis')
    results = inferencer(cohort, show_dir=out, show_progress=False)
    found = sorted(
        osp.relpath(osp.join(d, f), out) for d, _, files in os.walk(out)
        for f in files)
    # both lesions have an a.jpg: one folder per lesion keeps both
    assert found == [
        'cohort/1/a.png', 'cohort/1/b.png', 'cohort/1/c.png', 'cohort/2/a.png'
    ]
    drawing = results[1]['images'][0]['visualization']
    assert drawing.ndim == 3 and drawing.shape[2] == 3


def test_operating_point_calibrates_and_abstains(repo_root, cohort, inferencer,
                                                 tmp_path):
    op_path = str(tmp_path / 'op.json')
    OperatingPoint(
        classes=list(CLASSES),
        temperature=2.5,
        min_confidence=0.5,
        min_images=2).save(op_path)
    calibrated = LesionInferencer(
        osp.join(repo_root, CONFIG),
        False,
        device='cpu',
        operating_point=op_path)
    calibrated.model = inferencer.model
    raw = inferencer(cohort, show_progress=False)
    cal = calibrated(cohort, show_progress=False)
    for r, c in zip(raw, cal):
        # hand computation: softmax(log p / T) per image, then the mean
        imgs = np.array([im['pred_scores'] for im in r['images']])
        z = np.log(imgs) / 2.5
        z = np.exp(z - z.max(1, keepdims=True))
        z /= z.sum(1, keepdims=True)
        np.testing.assert_allclose([im['pred_scores'] for im in c['images']],
                                   z,
                                   rtol=1e-6)
        np.testing.assert_allclose(c['pred_scores'], z.mean(0), rtol=1e-6)
        assert c['uncertain'] == bool(z.mean(0).max() < 0.5 or len(imgs) < 2)
    assert cal[1]['uncertain']  # one image < min_images
    csv = str(tmp_path / 'op.csv')
    calibrated.dump_csv(cal, csv)
    import pandas as pd
    table = pd.read_csv(csv)
    assert list(table['uncertain']) == [c['uncertain'] for c in cal]
    # flip test-time augmentation: the mean of the image's and its
    # mirror's scores, by hand for the one-image lesion
    OperatingPoint(
        classes=list(CLASSES), view=dict(name='whole',
                                         flip=True)).save(op_path)
    flip = LesionInferencer(
        osp.join(repo_root, CONFIG),
        False,
        device='cpu',
        operating_point=op_path)
    flip.model = inferencer.model
    got = flip(
        osp.join(cohort, 'non-neoplastic', '2'),
        show_progress=False)[0]['pred_scores']
    data = default_collate([
        inferencer.pipeline(
            dict(
                img_path=osp.join(cohort, 'non-neoplastic', '2', 'Images',
                                  'a.jpg')))
    ])
    with torch.no_grad():
        a = inferencer.model.test_step(data)[0].pred_score.clone()
        data['inputs'] = data['inputs'].flip(-1)
        b = inferencer.model.test_step(data)[0].pred_score
    np.testing.assert_allclose(got, ((a + b) / 2).numpy(), rtol=1e-5)
    assert not np.allclose(a.numpy(), b.numpy())  # the mirror differs
    # a centre-crop view: the operating point's own test pipeline
    OperatingPoint(
        classes=list(CLASSES), view=dict(name='center_crop',
                                         crop_ratio=0.5)).save(op_path)
    if 'CenterCropRatio' not in TRANSFORMS:  # until the transform lands
        with pytest.raises(
                OperatingPointError, match="test transform 'CenterCropRatio'"):
            LesionInferencer(
                osp.join(repo_root, CONFIG), False, operating_point=op_path)
    else:
        crop = LesionInferencer(
            osp.join(repo_root, CONFIG),
            False,
            device='cpu',
            operating_point=op_path)
        crop.model = inferencer.model
        cfg = Config.fromfile(osp.join(repo_root, CONFIG))
        ref = _reference_scores(
            cohort, inferencer,
            OperatingPoint.load(op_path).test_pipeline(
                cfg.test_dataloader.dataset.pipeline))
        for r in crop(cohort, show_progress=False):
            np.testing.assert_allclose(
                r['pred_scores'],
                np.mean(ref[r['lesion_id']], 0),
                rtol=1e-4,
                atol=1e-6)
    # an operating point fitted for other classes is refused
    OperatingPoint(classes=['a', 'b', 'c']).save(op_path)
    with pytest.raises(OperatingPointError, match='fitted for classes'):
        LesionInferencer(
            osp.join(repo_root, CONFIG), False, operating_point=op_path)


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

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The lesion-predictions table: the metric's files byte-identical to the
writer it replaced, metadata columns only when known, CSV / JSON round
trips, and the readers keeping the metadata."""
import os.path as osp
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

from ecdl_mm.apis.inference_outputs import results_table
from ecdl_mm.evaluation import functional as F
from ecdl_mm.evaluation.clinical import load_lesion_predictions
from ecdl_mm.evaluation.lesion_table import (read_lesion_table,
                                             table_from_json, table_to_json,
                                             write_lesion_table)
from ecdl_mm.evaluation.operating_point import OperatingPoint

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')


def old_lesion_csv(path, scores, labels, lesion_ids, patients, op=None):
    """The writer of lesion_predictions.csv before the lesion-table module
    (LesionMetric._write_outputs at 53335a1), kept here as the reference."""
    ids, l_scores, l_pred, inverse = F.aggregate_lesions(
        scores.astype(np.float64), lesion_ids, 'mean')
    l_target = np.array(
        [labels[list(inverse).index(i)] for i in range(len(ids))])
    op_out = None
    if op is not None:
        cal = op.calibrate(scores.astype(np.float64))
        _, l_cal, c_pred, inv = F.aggregate_lesions(cal, lesion_ids, 'mean')
        n = np.bincount(inv, minlength=len(ids))
        op_out = dict(
            l_cal=l_cal,
            l_pred=c_pred,
            conf=l_cal.max(1),
            uncertain=op.is_uncertain(l_cal, n))
    n_images = np.bincount(inverse, minlength=len(ids))
    rows = []
    for i, lid in enumerate(ids):
        row = OrderedDict(
            lesion_id=lid,
            patient_id=patients[lid],
            num_images=int(n_images[i]),
            gt_label=int(l_target[i]),
            gt_class=CLASSES[l_target[i]])
        row.update({
            f'prob_{c}': float(v)
            for c, v in zip(CLASSES, l_scores[i])
        })
        row.update(pred_label=int(l_pred[i]), pred_class=CLASSES[l_pred[i]])
        if op_out is not None:
            row.update({
                f'cal_prob_{c}': float(v)
                for c, v in zip(CLASSES, op_out['l_cal'][i])
            })
            k = int(op_out['l_pred'][i])
            row.update(
                cal_pred_label=k,
                cal_pred_class=CLASSES[k],
                confidence=float(op_out['conf'][i]),
                uncertain=bool(op_out['uncertain'][i]))
        rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)


def fake(num_lesions=10, seed=0):
    rng = np.random.default_rng(seed)
    ids, labels = [], []
    for i in range(num_lesions):
        n = int(rng.integers(1, 4))
        ids += [f'c/{i}'] * n
        labels += [i % 3] * n
    logits = rng.normal(size=(len(ids), 3)) + np.eye(3)[labels]
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return scores.astype(np.float32), np.array(labels), ids


def evaluate(tmp_path, scores, labels, ids, meta=None, **kw):
    init_default_scope('mmpretrain')
    samples = []
    for i, (s, y, lid) in enumerate(zip(scores, labels, ids)):
        sample = DataSample().set_gt_label(int(y))
        sample.set_pred_score(torch.from_numpy(s))
        info = dict(
            img_path=f'/x/{lid}/{i}.jpg',
            lesion_id=lid,
            patient_id=None if lid.endswith('3') else f'P{lid[2:]}')
        if meta is not None and meta.get(lid):
            info['lesion_meta'] = meta[lid]
        sample.set_metainfo(info)
        samples.append(sample)
    ev = Evaluator(
        dict(
            type='LesionMetric',
            bootstrap_rounds=0,
            out_dir=str(tmp_path),
            **kw))
    ev.dataset_meta = dict(classes=CLASSES)
    ev.process(samples)
    ev.evaluate(len(samples))
    return osp.join(tmp_path, 'lesion_predictions.csv')


def patients_of(ids):
    return {lid: None if lid.endswith('3') else f'P{lid[2:]}' for lid in ids}


def test_metric_csv_byte_identical_to_the_old_writer(tmp_path):
    # with an operating point (calibrated columns); without one below
    scores, labels, ids = fake()
    op = OperatingPoint(
        classes=list(CLASSES),
        temperature=1.7,
        min_confidence=0.5,
        min_images=2)
    op.save(str(tmp_path / 'op.json'))
    new = evaluate(
        tmp_path / 'new',
        scores,
        labels,
        ids,
        operating_point=str(tmp_path / 'op.json'))
    old_lesion_csv(tmp_path / 'old.csv', scores, labels, ids, patients_of(ids),
                   op)
    assert open(new, 'rb').read() == open(tmp_path / 'old.csv', 'rb').read()


def test_metadata_columns_only_when_known_and_read_back(tmp_path, monkeypatch):
    from ecdl_mm.evaluation.metrics import lesion_outputs
    logged = []
    monkeypatch.setattr(lesion_outputs, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    scores, labels, ids = fake()
    meta = {
        f'c/{i}':
        OrderedDict(
            centre='A' if i < 5 else 'B',
            size_mm=None if i == 2 else float(3 + i),
            location=['sigmoid', 'caecum', 'rectum'][i % 3],
            rectosigmoid=i % 3 != 1,
            morphology='0-IIa+IIc',
            endoscopist=f'E{i % 2}')
        for i in range(9)  # lesion c/9 has none: empty cells
    }
    plain = evaluate(tmp_path / 'plain', scores, labels, ids)
    # a sheet without metadata: byte-identical to the old writer, plus one
    # log line naming the analyses that need the absent columns
    old_lesion_csv(tmp_path / 'old.csv', scores, labels, ids, patients_of(ids))
    assert open(plain, 'rb').read() == open(tmp_path / 'old.csv', 'rb').read()
    out = '\n'.join(logged)
    assert out.count('lesion metadata: the split sheet has no centre, '
                     'size_mm, location, morphology column;') == 1
    assert 'PIVI diagnose-and-leave (diminutive rectosigmoid) needs ' \
        'size_mm and location' in out
    path = evaluate(tmp_path / 'meta', scores, labels, ids, meta=meta)
    assert len(logged) == 1  # nothing more: every column is there
    head_plain = open(plain).readline().strip().split(',')
    head = open(path).readline().strip().split(',')
    assert head == head_plain + [
        'centre', 'size_mm', 'location', 'rectosigmoid', 'morphology',
        'endoscopist'
    ]
    # the base columns are those of the table without metadata
    base = pd.read_csv(path)[head_plain]
    pd.testing.assert_frame_equal(base, pd.read_csv(plain))
    table = read_lesion_table(path)
    for i in range(10):
        row = table.iloc[i]
        want = meta.get(f'c/{i}')
        if want is None:
            assert row[['centre', 'location', 'morphology']].isna().all()
            continue
        assert row['centre'] == want['centre']
        assert row['location'] == want['location']
        assert row['rectosigmoid'] is want['rectosigmoid']
        assert row['endoscopist'] == want['endoscopist']
        if want['size_mm'] is None:
            assert np.isnan(row['size_mm'])
        else:
            assert row['size_mm'] == want['size_mm']
    # compare_models / reader_study read the same file and keep them
    preds = load_lesion_predictions(path)
    assert list(preds.metadata.columns) == [
        'patient_id', 'centre', 'size_mm', 'location', 'rectosigmoid',
        'morphology', 'endoscopist'
    ]
    sub = preds.subset(['c/4', 'c/0'])
    assert sub.metadata['size_mm'].tolist() == [7.0, 3.0]
    assert sub.metadata['patient_id'].tolist() == ['P4', 'P0']
    assert load_lesion_predictions(plain).metadata.columns.tolist() == [
        'patient_id'
    ]


def test_csv_json_round_trip(tmp_path):
    rows = [
        dict(
            lesion_id='c/1',
            patient_id='P1',
            num_images=2,
            gt_label=0,
            gt_class='adenomas',
            prob_a=0.25,
            prob_b=0.75,
            pred_label=1,
            pred_class='b',
            uncertain=False,
            size_mm=4.0,
            location='rectum',
            rectosigmoid=True,
            note='x'),
        dict(
            lesion_id='c/2',
            patient_id=None,
            num_images=1,
            gt_label=None,
            gt_class=None,
            prob_a=1 / 3,
            prob_b=2 / 3,
            pred_label=1,
            pred_class='b',
            uncertain=True,
            size_mm=None,
            location=None,
            rectosigmoid=None,
            note=None)
    ]
    cols = list(rows[0])
    write_lesion_table(rows, str(tmp_path / 'a.csv'), cols)
    table = read_lesion_table(str(tmp_path / 'a.csv'))
    records = table_to_json(table, str(tmp_path / 'a.json'))
    assert records[1]['gt_label'] is None and records[1]['size_mm'] is None
    assert records[0]['rectosigmoid'] is True
    back = table_from_json(str(tmp_path / 'a.json'))
    pd.testing.assert_frame_equal(back, table)
    write_lesion_table(
        back.to_dict('records'), str(tmp_path / 'b.csv'), list(back.columns))
    assert open(tmp_path / 'a.csv').read() == open(tmp_path / 'b.csv').read()
    assert table['gt_label'].tolist()[0] == 0
    with open(tmp_path / 'bad.csv', 'w') as f:
        f.write('lesion_id,uncertain\nc/1,maybe\n')
    with pytest.raises(ValueError, match=r'bad.csv line 2: uncertain'):
        read_lesion_table(str(tmp_path / 'bad.csv'))


def test_inferencer_table_has_the_stills_schema_and_metadata():
    op_cols = ['cal_prob_a', 'cal_prob_b', 'cal_pred_label']
    results = [
        dict(
            lesion_id='demo/7',
            path='/d/a/7',
            num_images=2,
            pred_scores=np.array([0.3, 0.7]),
            pred_label=1,
            raw_scores=np.array([0.4, 0.6]),
            raw_label=1,
            uncertain=True,
            gt_label=1),
        dict(
            lesion_id='demo/8',
            path='/d/a/8',
            num_images=1,
            pred_scores=np.array([0.9, 0.1]),
            pred_label=0,
            raw_scores=np.array([0.8, 0.2]),
            raw_label=0,
            uncertain=False,
            gt_label=None)
    ]
    meta = {'7': OrderedDict(patient_id='P7', size_mm=5.0, location='rectum')}
    rows, cols = results_table(results, ['a', 'b'], meta)
    assert cols == [
        'lesion_id', 'patient_id', 'path', 'num_images', 'gt_label',
        'gt_class', 'prob_a', 'prob_b', 'pred_label', 'pred_class'
    ] + op_cols + [
        'cal_pred_class', 'confidence', 'uncertain', 'size_mm', 'location'
    ]
    assert [rows[0][c] for c in ('prob_b', 'cal_prob_b', 'confidence')] == \
        [0.6, 0.7, 0.7]
    assert rows[0]['patient_id'] == 'P7' and rows[1].get('size_mm') is None
    # without an operating point and metadata: the columns of before
    plain = [{
        k: v
        for k, v in r.items()
        if k not in ('raw_scores', 'raw_label', 'uncertain')
    } for r in results]
    _, cols = results_table(plain, ['a', 'b'])
    assert cols == [
        'lesion_id', 'path', 'num_images', 'gt_label', 'gt_class', 'prob_a',
        'prob_b', 'pred_label', 'pred_class'
    ]

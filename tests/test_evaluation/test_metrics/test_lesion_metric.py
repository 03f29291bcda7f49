# Copyright (c) ecdl_mm contributors. All rights reserved.
import os.path as osp

import numpy as np
import pandas as pd
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score,
                             precision_score, recall_score, roc_auc_score)
from sklearn.preprocessing import label_binarize

from ecdl_mm.evaluation import LesionMetric
from ecdl_mm.evaluation.metrics.lesion_metric import weighted_auc

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')


def fake_predictions(num_lesions=24, seed=0):
    """Softmax scores of 1-4 images per lesion, one label per lesion."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, num_lesions)
    lesion_labels = np.arange(num_lesions) % 3
    lesion_ids, labels = [], []
    for i, (n, y) in enumerate(zip(sizes, lesion_labels)):
        lesion_ids += [f'L{i}'] * n
        labels += [y] * n
    labels = np.array(labels)
    logits = rng.normal(size=(len(labels), 3)) + 1.2 * np.eye(3)[labels]
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return scores.astype(np.float32), labels, lesion_ids


def results_of(scores, labels, lesion_ids):
    return [
        dict(
            score=s,
            gt_label=int(y),
            lesion_id=lid,
            patient_id=None,
            img_path=f'img{i}.jpg')
        for i, (s, y, lid) in enumerate(zip(scores, labels, lesion_ids))
    ]


def sklearn_reference(scores, labels):
    """Every metric via scikit-learn (specificity / NPV from its matrix)."""
    scores = np.asarray(scores, np.float64)
    pred = scores.argmax(1)
    cm = confusion_matrix(labels, pred, labels=[0, 1, 2])
    tp = np.diag(cm)
    fn, fp = cm.sum(1) - tp, cm.sum(0) - tp
    tn = cm.sum() - tp - fn - fp
    ref = dict(
        accuracy=accuracy_score(labels, pred),
        sensitivity=recall_score(labels, pred, average=None, zero_division=0),
        ppv=precision_score(labels, pred, average=None, zero_division=0),
        f1=f1_score(labels, pred, average=None, zero_division=0),
        specificity=tn / (tn + fp),
        npv=tn / (tn + fn),
        auc=np.array(
            [roc_auc_score(labels == k, scores[:, k]) for k in range(3)]),
        auc_macro=roc_auc_score(
            labels, scores, multi_class='ovr', average='macro'),
        auc_micro=roc_auc_score(
            label_binarize(labels, classes=[0, 1, 2]), scores,
            average='micro'),
        confusion_matrix=cm)
    return ref


def check_level(metrics, level, ref):
    assert metrics[f'{level}/accuracy'] == pytest.approx(ref['accuracy'])
    for name in ('sensitivity', 'specificity', 'ppv', 'npv', 'f1', 'auc'):
        for k, cls in enumerate(CLASSES):
            assert metrics[f'{level}/{name}_{cls}'] == pytest.approx(
                ref[name][k]), (level, name, cls)
        assert metrics[f'{level}/{name}_macro'] == pytest.approx(
            np.mean(ref[name]))
    assert metrics[f'{level}/auc_macro'] == pytest.approx(ref['auc_macro'])
    assert metrics[f'{level}/auc_micro'] == pytest.approx(ref['auc_micro'])
    np.testing.assert_array_equal(metrics[f'{level}/confusion_matrix'],
                                  ref['confusion_matrix'])
    # sklearn's macro F1 / recall agree with our macro means
    assert metrics[f'{level}/f1_macro'] == pytest.approx(np.mean(ref['f1']))


def test_values_equal_sklearn_at_both_levels():
    scores, labels, lesion_ids = fake_predictions()
    metric = LesionMetric(bootstrap_rounds=0, classes=CLASSES)
    metrics = metric.compute_metrics(results_of(scores, labels, lesion_ids))
    check_level(metrics, 'image', sklearn_reference(scores, labels))

    # lesion level: mean of the softmax probabilities of each lesion
    frame = pd.DataFrame(scores.astype(np.float64))
    frame['lesion'] = lesion_ids
    frame['y'] = labels
    grouped = frame.groupby('lesion', sort=False).mean()
    l_scores = grouped[[0, 1, 2]].to_numpy()
    l_labels = grouped['y'].to_numpy().astype(int)
    check_level(metrics, 'lesion', sklearn_reference(l_scores, l_labels))
    assert metrics['lesion/num_lesions'] == 24
    assert metrics['image/num_images'] == len(labels)
    # no bootstrap: the AUCs, F1 and macro means have no interval, the
    # proportions keep theirs (Wilson / cluster-adjusted Wilson)
    assert 'lesion/auc_macro_ci_lower' not in metrics
    assert 'lesion/f1_adenomas_ci_lower' not in metrics
    assert 'lesion/accuracy_ci_lower' in metrics


def test_aggregations_against_reference():
    scores = np.array([[.6, .3, .1], [.1, .5, .4], [.1, .45, .45],
                       [.2, .2, .6], [.45, .45, .1]])
    ids = ['a', 'a', 'a', 'b', 'b']
    got_ids, mean, pred, inverse = LesionMetric.aggregate(scores, ids, 'mean')
    assert got_ids == ['a', 'b'] and list(inverse) == [0, 0, 0, 1, 1]
    np.testing.assert_allclose(mean, [scores[:3].mean(0), scores[3:].mean(0)])
    assert list(pred) == [1, 2]

    _, vote, pred, _ = LesionMetric.aggregate(scores, ids, 'vote')
    # lesion a: votes 0, 1, 1 (argmax of [.1, .45, .45] is 1) -> class 1
    # lesion b: one vote each for 2 and 0 -> tie broken by mean prob
    # (.35 for class 2 > .325 for class 0)
    np.testing.assert_allclose(vote, [[1 / 3, 2 / 3, 0], [.5, 0, .5]])
    assert list(pred) == [1, 2]

    _, mx, pred, _ = LesionMetric.aggregate(scores, ids, 'max')
    ref = np.array([[.6, .5, .45], [.45, .45, .6]])
    np.testing.assert_allclose(mx, ref / ref.sum(1, keepdims=True))
    assert list(pred) == [0, 2]
    with pytest.raises(ValueError, match="aggregation='median'"):
        LesionMetric(aggregation='median')


def test_weighted_auc_equals_sklearn_sample_weight():
    rng = np.random.default_rng(1)
    score = np.round(rng.random(50), 1)  # many ties
    positive = rng.random(50) < 0.4
    weights = rng.integers(0, 4, (6, 50)).astype(float)
    got = weighted_auc(score, positive, weights)
    ref = [roc_auc_score(positive, score, sample_weight=w) for w in weights]
    np.testing.assert_allclose(got, ref)
    assert np.isnan(weighted_auc(score, np.zeros(50, bool), weights[:1]))[0]


def test_bootstrap_intervals_match_reference_loop():
    scores, labels, lesion_ids = fake_predictions(num_lesions=15, seed=3)
    rounds, seed = 40, 7
    metric = LesionMetric(
        bootstrap_rounds=rounds, seed=seed, ci_level=0.9, classes=CLASSES)
    metrics = metric.compute_metrics(results_of(scores, labels, lesion_ids))

    # reference: resample lesions with the same generator, recompute with
    # scikit-learn on the concatenated images / drawn lesions
    ids = list(dict.fromkeys(lesion_ids))
    draws = np.random.default_rng(seed).integers(0, len(ids),
                                                 (rounds, len(ids)))
    lesion_of = np.array([ids.index(i) for i in lesion_ids])
    l_scores = np.stack([
        scores[lesion_of == j].astype(np.float64).mean(0)
        for j in range(len(ids))
    ])
    l_labels = np.array([labels[lesion_of == j][0] for j in range(len(ids))])
    img_auc0, les_auc1, les_f1_2 = [], [], []
    for d in draws:
        img = np.concatenate([np.flatnonzero(lesion_of == j) for j in d])
        y = labels[img] == 0
        if 0 < y.sum() < len(y):
            img_auc0.append(roc_auc_score(y, scores[img, 0]))
        y = l_labels[d] == 1
        if 0 < y.sum() < len(y):
            les_auc1.append(roc_auc_score(y, l_scores[d, 1]))
        said, y = l_scores[d].argmax(1) == 2, l_labels[d] == 2
        if said.any() or y.any():  # F1 undefined (NaN) otherwise
            les_f1_2.append(f1_score(y, said))
    for key, vals in [('image/auc_adenomas', img_auc0),
                      ('lesion/auc_invasive_cancer', les_auc1),
                      ('lesion/f1_non-neoplastic', les_f1_2)]:
        lo, hi = np.percentile(vals, [5, 95])
        assert metrics[f'{key}_ci_lower'] == pytest.approx(lo), key
        assert metrics[f'{key}_ci_upper'] == pytest.approx(hi), key
    # the same seed gives the same intervals
    again = metric.compute_metrics(results_of(scores, labels, lesion_ids))
    assert again['lesion/auc_macro_ci_lower'] == \
        metrics['lesion/auc_macro_ci_lower']


def make_samples(scores, labels, lesion_ids, with_lesion=True):
    samples = []
    for i, (s, y, lid) in enumerate(zip(scores, labels, lesion_ids)):
        ds = DataSample().set_gt_label(int(y)).set_pred_score(
            torch.from_numpy(s))
        meta = dict(img_path=f'/x/{lid}/img{i}.jpg')
        if with_lesion:
            meta.update(lesion_id=lid, patient_id=f'P{lid}')
        ds.set_metainfo(meta)
        samples.append(ds)
    return samples


def test_evaluator_beside_accuracy_and_outputs(tmp_path):
    init_default_scope('mmpretrain')
    scores, labels, lesion_ids = fake_predictions(num_lesions=9, seed=5)
    evaluator = Evaluator([
        dict(
            type='LesionMetric',
            aggregation='vote',
            bootstrap_rounds=20,
            out_dir=str(tmp_path)),
        dict(type='Accuracy', topk=(1, )),
    ])
    evaluator.dataset_meta = dict(classes=CLASSES)
    samples = make_samples(scores, labels, lesion_ids)
    evaluator.process(samples[:7])
    evaluator.process(samples[7:])
    metrics = evaluator.evaluate(len(samples))
    assert metrics['accuracy/top1'] == pytest.approx(100 *
                                                     metrics['image/accuracy'])
    assert 'lesion/accuracy_ci_upper' in metrics
    for name in ('image_predictions.csv', 'lesion_predictions.csv',
                 'metrics.json', 'confusion_matrix_image.png',
                 'confusion_matrix_lesion.png', 'roc_image.png',
                 'roc_lesion.png'):
        assert osp.getsize(osp.join(tmp_path, name)) > 0, name
    images = pd.read_csv(osp.join(tmp_path, 'image_predictions.csv'))
    assert len(images) == len(labels)
    np.testing.assert_allclose(
        images['prob_adenomas'], scores[:, 0], rtol=1e-6)
    lesions = pd.read_csv(osp.join(tmp_path, 'lesion_predictions.csv'))
    assert list(lesions['lesion_id']) == list(dict.fromkeys(lesion_ids))
    assert lesions['patient_id'][0] == 'PL0'
    assert lesions['num_images'].sum() == len(labels)
    assert (lesions['pred_class'] == lesions['pred_label'].map(
        dict(enumerate(CLASSES)))).all()
    assert metrics['lesion/accuracy'] == pytest.approx(
        (lesions['pred_label'] == lesions['gt_label']).mean())


def test_clear_errors():
    scores, labels, lesion_ids = fake_predictions(num_lesions=3)
    metric = LesionMetric(bootstrap_rounds=0)
    with pytest.raises(
            ValueError,
            match="needs `lesion_id` in the data "
            "samples' metainfo; add it to the pipeline"):
        metric.process(None, [
            s.to_dict()
            for s in make_samples(scores, labels, lesion_ids, False)
        ])
    results = results_of(scores, labels, lesion_ids)
    bad = [dict(r, lesion_id='same') for r in results[:2]]
    bad[1]['gt_label'] = (bad[0]['gt_label'] + 1) % 3
    with pytest.raises(
            ValueError,
            match="lesion 'same' has images with "
            'different ground-truth labels'):
        metric.compute_metrics(bad)
    with pytest.raises(ValueError, match='bootstrap_rounds=-1'):
        LesionMetric(bootstrap_rounds=-1)
    with pytest.raises(ValueError, match=r'ci_level=1\.5'):
        LesionMetric(ci_level=1.5)


def test_proportion_intervals_counts_and_calibration():
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import log_loss
    from statsmodels.stats.proportion import proportion_confint
    scores, labels, lesion_ids = fake_predictions(num_lesions=24, seed=2)
    metric = LesionMetric(bootstrap_rounds=0, classes=CLASSES)
    metrics = metric.compute_metrics(results_of(scores, labels, lesion_ids))
    counts = metric.extras['counts']
    frame = pd.DataFrame(scores.astype(np.float64))
    frame['lesion'], frame['y'] = lesion_ids, labels
    grouped = frame.groupby('lesion', sort=False).mean()
    l_scores = grouped[[0, 1, 2]].to_numpy()
    l_labels = grouped['y'].to_numpy().astype(int)
    l_pred = l_scores.argmax(1)
    # lesion level: Wilson on k/n of independent lesions
    pos = l_labels == 1
    k, n = int((l_pred[pos] == 1).sum()), int(pos.sum())
    assert counts['lesion/sensitivity_invasive_cancer'] == dict(
        k=k, n=n, interval='wilson')
    assert (metrics['lesion/sensitivity_invasive_cancer_ci_lower'],
            metrics['lesion/sensitivity_invasive_cancer_ci_upper']
            ) == pytest.approx(proportion_confint(k, n, method='wilson'))
    # image level: Wilson on the effective sample of the clustered images
    correct = scores.argmax(1) == labels
    lesion_of = pd.factorize(pd.Series(lesion_ids))[0]
    k_j = np.bincount(lesion_of, weights=correct)
    n_j = np.bincount(lesion_of)
    p = correct.mean()
    deff = max(1.0, ((k_j - p * n_j)**2).sum() / (len(labels) * p * (1 - p)))
    n_eff = len(labels) / deff
    assert counts['image/accuracy']['deff'] == pytest.approx(deff)
    assert (metrics['image/accuracy_ci_lower'],
            metrics['image/accuracy_ci_upper']) == pytest.approx(
                proportion_confint(p * n_eff, n_eff, method='wilson'))
    # calibration at both levels
    conf = l_scores.max(1)
    hit = l_pred == l_labels
    prob_true, prob_pred = calibration_curve(hit, conf, n_bins=15)
    edges = np.linspace(0, 1, 16)
    size = np.bincount(np.searchsorted(edges[1:-1], conf), minlength=15)
    ece = (size[size > 0] / len(conf) * np.abs(prob_true - prob_pred)).sum()
    assert metrics['lesion/ece'] == pytest.approx(ece)
    assert metrics['image/nll'] == pytest.approx(
        log_loss(
            labels, scores / scores.sum(1, keepdims=True), labels=[0, 1, 2]),
        rel=1e-5)
    assert metrics['lesion/brier'] == pytest.approx(
        ((l_scores - np.eye(3)[l_labels])**2).sum(1).mean())


def test_macro_interval_of_a_single_class_predictor_does_not_collapse():
    """A model that always says 'adenomas': sensitivities (1, 0, 0) in
    every bootstrap round, so the percentile interval of the macro mean
    sits on its point (0.333-0.333 or 0.333-0.5). The interval is the hull
    with the mean of the per-class Wilson bounds (statsmodels), and
    metrics.json says why."""
    from statsmodels.stats.proportion import proportion_confint
    num = 12
    labels = np.arange(num) % 3
    scores = np.tile(np.array([[0.8, 0.1, 0.1]], np.float32), (num, 1))
    ids = [f'L{i}' for i in range(num)]
    metric = LesionMetric(bootstrap_rounds=50, seed=0, classes=CLASSES)
    metrics = metric.compute_metrics(results_of(scores, labels, ids))
    point = metrics['lesion/sensitivity_macro']
    assert point == pytest.approx(1 / 3)
    lo, hi = (metrics['lesion/sensitivity_macro_ci_lower'],
              metrics['lesion/sensitivity_macro_ci_upper'])
    wilson = [
        proportion_confint(k, 4, alpha=0.05, method='wilson')
        for k in (4, 0, 0)
    ]
    assert lo == pytest.approx(np.mean([w[0] for w in wilson]))
    assert lo < point - 0.05
    assert hi >= np.mean([w[1] for w in wilson]) - 1e-12
    assert 'class rates at 0 or 1' in metric.extras['interval_notes'][
        'lesion/sensitivity_macro']
    # every class rate inside (0, 1) (6/10, 16/20): the bootstrap's stands
    labels = np.arange(30) % 3
    pred = np.where((np.arange(30) // 3) % 3 == 0, (labels + 1) % 3, labels)
    scores = (0.1 + 0.7 * np.eye(3)[pred]).astype(np.float32)
    ids = [f'L{i}' for i in range(30)]
    metric = LesionMetric(bootstrap_rounds=30, seed=0, classes=CLASSES)
    metrics = metric.compute_metrics(results_of(scores, labels, ids))
    assert metrics['lesion/sensitivity_macro'] == pytest.approx(0.6)
    assert 'interval_notes' not in metric.extras

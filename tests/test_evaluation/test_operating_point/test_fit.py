# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The operating-point rules on validation probabilities built so that the
answer is known: the view, the temperature and the thresholds."""
import numpy as np
import pytest

from ecdl_mm.datasets.transforms import CenterCropRatio
from ecdl_mm.evaluation import functional as F
from ecdl_mm.evaluation.operating_point import OperatingPoint
from ecdl_mm.evaluation.operating_point_fit import (VIEW_CANDIDATES,
                                                    fit_operating_point,
                                                    view_key)

CLASSES = ['adenomas', 'invasive_cancer', 'non-neoplastic']


def validation(seed=0, lesions=30, per=2):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(lesions) % 3, per)
    ids = [f'L{i}' for i in np.repeat(np.arange(lesions), per)]

    def probs(signal):
        z = rng.normal(size=(len(y), 3)) + signal * np.eye(3)[y]
        return np.exp(z) / np.exp(z).sum(1, keepdims=True)

    return y, ids, probs


def views_with(signals, probs):
    return {
        view_key(v): (v, probs(s))
        for v, s in zip(VIEW_CANDIDATES, signals)
    }


@pytest.mark.parametrize('winner', [0, 2])
def test_view_with_the_lowest_lesion_nll_wins(winner):
    y, ids, probs = validation()
    # the winner's probabilities carry the label, the others are noise
    signals = [0.0] * len(VIEW_CANDIDATES)
    signals[winner] = 3.0
    op = fit_operating_point(views_with(signals, probs), y, ids, CLASSES)
    assert op.view == VIEW_CANDIDATES[winner]
    expected = 'whole' if winner == 0 else 'center_crop_0.875'
    assert op.validation['chosen_view'] == expected
    nll = {v['key']: v['lesion_nll'] for v in op.validation['views']}
    assert min(nll, key=nll.get) == expected


def test_ties_go_to_the_whole_frame():
    y, ids, probs = validation(1)
    p = probs(2.0)
    views = {view_key(v): (v, p) for v in VIEW_CANDIDATES}
    op = fit_operating_point(views, y, ids, CLASSES)
    assert op.view == VIEW_CANDIDATES[0]


def test_temperature_and_thresholds_meet_targets_by_construction():
    y, ids, probs = validation(2, lesions=60, per=2)
    p = F.temperature_scale(probs(2.0), 0.5)  # over-confident
    targets = [
        'accuracy=0.9', 'npv:non-neoplastic=0.9',
        'sensitivity:invasive_cancer=0.8'
    ]
    op = fit_operating_point({'whole': (VIEW_CANDIDATES[0], p)}, y, ids,
                             CLASSES, targets)
    assert op.temperature == pytest.approx(F.fit_temperature(p, y))
    cal = op.calibrate(p)
    # lesion calibration checked after aggregation
    assert op.validation['calibration']['lesion_calibrated']['nll'] == \
        pytest.approx(F.calibration_metrics(
            F.aggregate_lesions(cal, ids)[1], y[::2])['nll'])
    dec = op.decide(p, ids)
    acc = ~dec['uncertain']
    pred, t = dec['pred'][acc], y[::2][acc]
    assert np.mean(pred == t) >= 0.9
    assert np.mean(t[pred == 2] == 2) >= 0.9
    assert np.mean(pred[t == 1] == 1) >= 0.8
    # largest coverage: the next lower confidence breaks a target
    conf = dec['confidence']
    lower = conf[conf < op.min_confidence]
    if len(lower):
        a = conf >= lower.max()
        pr, tt = dec['pred'][a], y[::2][a]
        assert not (np.mean(pr == tt) >= 0.9 and np.mean(tt[pr == 2] == 2)
                    >= 0.9 and np.mean(pr[tt == 1] == 1) >= 0.8)
    for text in targets:
        assert op.validation['selective'][f'target {text}']['value'] >= \
            float(text.split('=')[1])
    # the file round-trips through the shared contract
    back = OperatingPoint(**{
        k: v
        for k, v in op.to_dict().items() if k != 'format'
    })
    assert back.min_confidence == op.min_confidence


def test_unmet_target_abstains_on_everything():
    y, ids, probs = validation(3)
    op = fit_operating_point({'whole': (VIEW_CANDIDATES[0], probs(0.0))}, y,
                             ids, CLASSES, ['accuracy=0.99'])
    assert op.min_confidence == 1.0 and op.validation['unmet']
    assert op.decide(probs(0.0), ids)['uncertain'].all()


def test_center_crop_ratio_and_pipeline():
    img = np.arange(100 * 60 * 3).reshape(100, 60, 3)
    out = CenterCropRatio(0.5).transform(dict(img=img))
    assert out['img'].shape == (30, 30, 3) and out['img_shape'] == (30, 30)
    np.testing.assert_array_equal(out['img'], img[35:65, 15:45])
    with pytest.raises(ValueError, match='ratio=0'):
        CenterCropRatio(0)
    op = OperatingPoint(
        classes=CLASSES, view=dict(name='center_crop', crop_ratio=0.875))
    pipe = op.test_pipeline([
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(64, 64)),
        dict(type='PackInputs')
    ])
    assert pipe[1] == dict(type='CenterCropRatio', ratio=0.875)
    from mmpretrain.registry import TRANSFORMS
    assert isinstance(TRANSFORMS.build(pipe[1]), CenterCropRatio)

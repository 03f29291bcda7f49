# Copyright (c) ecdl_mm contributors. All rights reserved.
import numpy as np
import pytest

from ecdl_mm.evaluation.operating_point import OperatingPoint
from ecdl_mm.live import LesionTracker

CLASSES = ['adenomas', 'invasive_cancer', 'non-neoplastic']


def make(**kw):
    op = OperatingPoint(
        classes=CLASSES,
        min_confidence=kw.pop('conf', 0.6),
        min_images=kw.pop('frames', 2),
        temperature=kw.pop('temperature', 1.0))
    return LesionTracker(op, **kw)


def test_segments_on_out_of_contact_runs_and_mark():
    tr = make(new_lesion_after=3)
    contact = [0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1]  # 1 = in contact
    ids = [tr.observe(i, i / 30, not c) for i, c in enumerate(contact)]
    # a gap of 1 does not end lesion 1; a gap of 3 does
    assert ids == [None, None, '1', '1', '1', '1', '1', '1', None, '2', '2']
    tr.mark()
    assert tr.observe(11, 11 / 30, False) == '3'
    tr.finish()
    calls = {lid: tr.lesion_call(lid) for lid in tr.lesions}
    assert (calls['1']['start_index'], calls['1']['end_index']) == (2, 5)
    assert (calls['2']['start_index'], calls['2']['end_index']) == (9, 10)
    assert calls['1']['diagnosed'] is False and calls['1']['uncertain']


def test_lesion_call_is_mean_of_used_frames_and_uncertainty():
    tr = make(conf=0.6, frames=3, temperature=2.0)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([4, 1, 1], size=5)
    for i, p in enumerate(probs):
        lid = tr.observe(i, i / 30, False)
        tr.update(lid, i, i / 30, p)
    call = tr.lesion_call('1')
    mean = probs.mean(0)
    np.testing.assert_allclose(call['pred_scores'], mean, atol=1e-12)
    assert call['pred_label'] == int(mean.argmax())
    # calibration by hand: softmax(log p / T)
    z = np.exp(np.log(mean) / 2.0)
    z /= z.sum()
    assert call['confidence'] == pytest.approx(z.max(), abs=1e-12)
    assert call['uncertain'] == bool(z.max() < 0.6)
    assert call['num_images'] == 5 and call['frames'] == [0, 1, 2, 3, 4]
    # too few frames: uncertain whatever the confidence
    tr2 = make(conf=0.0, frames=3)
    lid = tr2.observe(0, 0.0, False)
    tr2.update(lid, 0, 0.0, [0.98, 0.01, 0.01])
    assert tr2.lesion_call(lid)['uncertain']
    assert tr2.running_call(lid)['uncertain']


def test_hysteresis_keeps_the_shown_class():
    tr = make(ema=1.0, hysteresis=0.1)
    lid = tr.observe(0, 0.0, False)
    shown = []
    for p in ([0.5, 0.3, 0.2], [0.45, 0.5, 0.05], [0.44, 0.52,
                                                   0.04], [0.3, 0.65, 0.05]):
        shown.append(tr.update(lid, 0, 0.0, p)['pred_label'])
    # argmax flips at the 2nd frame, the display only once the margin > 0.1
    assert shown == [0, 0, 0, 1]
    tr0 = make(ema=1.0, hysteresis=0.0)
    lid = tr0.observe(0, 0.0, False)
    assert [
        tr0.update(lid, 0, 0.0, p)['pred_label']
        for p in ([0.5, 0.3, 0.2], [0.45, 0.5, 0.05])
    ] == [0, 1]


def test_validation():
    with pytest.raises(ValueError, match='aggregation'):
        make(aggregation='median')
    with pytest.raises(ValueError, match='ema'):
        make(ema=0)

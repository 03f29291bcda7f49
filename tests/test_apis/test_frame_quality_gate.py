# Copyright (c) ecdl_mm contributors. All rights reserved.
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
from mmpretrain.registry import TASK_UTILS

from ecdl_mm.live import FrameQualityGate


@pytest.fixture(scope='module')
def stills(demo_root):
    paths = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images', '*')))
    assert len(paths) == 40
    return [cv2.imread(p) for p in paths]


def test_registered_and_configurable():
    gate = TASK_UTILS.build(dict(type='FrameQualityGate', min_focus=0.5))
    assert isinstance(gate, FrameQualityGate) and gate.min_focus == 0.5
    with pytest.raises(ValueError, match='min_field=1.5'):
        FrameQualityGate(min_field=1.5)


def test_field_is_the_octagon(stills):
    gate = FrameQualityGate()
    img = stills[0]
    grey, _ = gate._grey(img)
    mask, black = gate.field_mask(grey)
    assert black
    # independent: the convex hull of the bright pixels, filled
    pts = cv2.findNonZero((grey > gate.field_level).astype(np.uint8))
    hull = np.zeros_like(grey)
    cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
    inter = np.logical_and(mask, hull).sum()
    union = np.logical_or(mask, hull).sum()
    assert inter / union > 0.98
    # the corners are cut: the field is not the whole frame
    assert mask[0, 0] == 0 and mask[-1, -1] == 0
    assert mask[grey.shape[0] // 2, grey.shape[1] // 2] == 1


def test_accepts_demo_stills_rejects_blur_dark_halation(stills):
    gate = FrameQualityGate()
    for img in stills:
        gate.reset()
        assert gate(img)['reason'] == 'ok'
        gate.reset()
        r = gate(cv2.GaussianBlur(img, (0, 0), 4))
        assert r['reason'] == 'blur' and not r['out_of_contact']
        gate.reset()
        r = gate((img * 0.1).astype(np.uint8))
        assert r['reason'] in ('dark', 'no_field') and r['out_of_contact']


def test_focus_does_not_depend_on_exposure(stills):
    gate = FrameQualityGate()
    for img in stills[:10]:
        gate.reset()
        f1 = gate(img)['quality']['focus']
        gate.reset()
        f2 = gate(cv2.convertScaleAbs(img, alpha=0.6))['quality']['focus']
        assert f2 == pytest.approx(f1, rel=0.1)


def test_halation_fraction_matches_count(stills):
    gate = FrameQualityGate()
    img = stills[3].copy()
    h, w = img.shape[:2]
    cv2.ellipse(img, (w // 2, h // 2), (w // 4, h // 5), 0, 0, 360,
                (255, 255, 255), -1)
    r = gate(img)
    assert r['reason'] == 'halation'
    step = w // gate.work_width
    small = img[::step, ::step]
    grey, _ = gate._grey(img)
    mask, _ = gate.field_mask(grey)
    hot = (small.max(2) >= gate.halation_level) & (mask > 0)
    assert r['quality']['halation'] == pytest.approx(
        hot.sum() / mask.sum(), abs=1e-9)


def test_motion_between_frames(stills):
    gate = FrameQualityGate()
    img = stills[5]
    gate(img)
    assert gate(img)['quality']['motion'] == 0.0
    # the mucosa moves by 58 px (5% of the width), the octagon stays
    m = np.float32([[1, 0, 58], [0, 1, 0]])
    moved = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]))
    moved[img.max(2) <= gate.field_level] = 0
    r = gate(moved)
    assert r['quality']['motion'] == pytest.approx(0.05, abs=0.01)
    assert r['reason'] == 'motion'
    # a 1-pixel jitter passes
    gate.reset()
    gate(img)
    m = np.float32([[1, 0, 1], [0, 1, 0]])
    r = gate(cv2.warpAffine(img, m, (img.shape[1], img.shape[0])))
    assert r['quality']['motion'] < 0.01 and r['reason'] == 'ok'
    # a slip to another place in one frame
    r = gate(stills[6])
    assert r['reason'] == 'motion'
    # a motion blur along x or y is caught by the directional focus
    kernel = np.full((1, 41), 1 / 41, np.float32)
    for k in (kernel, kernel.T):
        gate.reset()
        assert gate(cv2.filter2D(img, -1, k))['reason'] == 'blur'
    # a black frame: no field, out of contact
    r = gate(np.zeros_like(img))
    assert r['reason'] == 'no_field' and r['out_of_contact']


@pytest.mark.parametrize('shape', [(1009, 1160, 3), (101, 99, 3), (50, 60)])
def test_subsample_is_numpy_striding(shape):
    # the gate's fast subsampling takes exactly frame[::step, ::step]
    from ecdl_mm.live.frame_quality_gate import _subsample
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    for view in (frame, frame[:, ::2], frame[1:]):
        for step in (1, 2, 7):
            got = _subsample(view, step)
            np.testing.assert_array_equal(got, view[::step, ::step])
            assert got.flags.c_contiguous

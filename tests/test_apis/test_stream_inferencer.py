# Copyright (c) ecdl_mm contributors. All rights reserved.
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from helpers.stream import CLASSES, CONFIG, SHORT_PHASES
from mmengine.config import Config

from ecdl_mm.apis import LesionInferencer
from ecdl_mm.evaluation.operating_point import OperatingPoint
from ecdl_mm.live import FrameQualityGate, StreamInferencer
from ecdl_mm.live.demo_video import make_demo_video
from ecdl_mm.live.frame_source import Frame


@pytest.fixture(scope='module')
def stills(demo_root):
    paths = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images', '*')))
    return paths[:6]


def test_contract_preprocess_forward_postprocess(inferencer, stills):
    assert isinstance(inferencer.gate, FrameQualityGate)
    img = cv2.imread(stills[0])
    # sharp, defocused, sharp again (one still: no motion between frames)
    frames = [
        Frame(img, 0, 0.0),
        Frame(cv2.GaussianBlur(img, (0, 0), 6), 1, 0.033),
        Frame(img, 2, 0.067)
    ]
    inferencer.gate.reset()
    inferencer.tracker = inferencer.new_tracker()
    chunks = list(inferencer.preprocess(frames, batch_size=8))
    assert len(chunks) == 1
    chunk = chunks[0]
    assert [g['accepted'] for g in chunk['gate']] == [True, False, True]
    assert chunk['data']['inputs'][0].shape == (3, 64, 64)
    assert len(chunk['data']['inputs']) == 2
    preds = inferencer.forward(chunk)
    # the backend's probabilities are the model's own
    with torch.no_grad():
        ref = inferencer.model.test_step(chunk['data'])
    np.testing.assert_allclose(
        preds[0].pred_score.numpy(), ref[0].pred_score.numpy(), atol=1e-5)
    assert 'pred_score' not in preds[1]
    out = inferencer.postprocess(preds)
    assert [f['used'] for f in out['frames']] == [True, False, True]
    lesion = out['lesions'][0]
    mean = np.mean([preds[0].pred_score.numpy(), preds[2].pred_score.numpy()],
                   0)
    np.testing.assert_allclose(lesion['pred_scores'], mean, atol=1e-6)
    assert lesion['pred_class'] == CLASSES[int(mean.argmax())]
    assert set(out['frames'][0]) >= {'pred_scores', 'pred_label', 'pred_class'}


#: |live - still| probabilities of a full-resolution decoded frame (see
#: below): 2.2e-3 measured on the six stills (4 Dec 2026).
FULL_FRAME_ATOL = 5e-3


def test_frames_match_the_still_image_path(repo_root, tiny, inferencer,
                                           stills):
    """A decoded frame gets the probabilities its JPEG gets through the
    test pipeline.

    The two paths differ in one step only: the still path
    (``LoadResizedImage``) decodes the 1160x1009 JPEG at 1/4 in the DCT
    domain (290x253), the live path gets the full decoded frame and
    reduces it by area averaging (``LoadFrame``: 290x252); everything after
    (the bicubic resize to 64 px, normalisation, model) is shared. So:
    """
    lesion = LesionInferencer(osp.join(repo_root, CONFIG), tiny, device='cpu')
    res = lesion(stills, batch_size=8, show_progress=False)
    ref = np.stack([np.asarray(r['pred_scores']) for r in res])

    # 1. Like with like: the frame the still path decodes, given to the
    # live path (no reduction left to do), gets the same probabilities.
    reduced = [cv2.imread(p, cv2.IMREAD_REDUCED_COLOR_4) for p in stills]
    assert reduced[0].shape == (253, 290, 3)
    live = inferencer.predict_probs(inferencer.collate(reduced))
    np.testing.assert_allclose(live, ref, rtol=0, atol=1e-5)

    # 2. A full-resolution frame (what a video source gives): the only
    # difference is the reduction, the DCT-domain decode vs an area
    # average of the full decode, about 1 grey level on average (the last
    # row: 253 vs 252 rows), so the probabilities differ a little.
    full = [cv2.imread(p) for p in stills]
    for img, small in zip(full, reduced):
        frame = inferencer.pipeline.transforms[0](dict(img=img))['img']
        assert frame.shape == (252, 290, 3)
        diff = np.abs(frame.astype(int) - small[:252].astype(int))
        assert diff.mean() < 2, diff.mean()
    live = inferencer.predict_probs(inferencer.collate(full))
    np.testing.assert_allclose(live, ref, rtol=0, atol=FULL_FRAME_ATOL)
    # the call can differ only where the still path's top two are closer
    # than twice the tolerance (1 of the 6 stills here)
    top2 = np.sort(ref, 1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * FULL_FRAME_ATOL
    assert clear.sum() >= 5
    assert (live.argmax(1) == ref.argmax(1))[clear].all()


def test_flip_view_of_the_operating_point(repo_root, tiny, stills):
    """An operating point whose view has ``flip`` gets the mean of each
    frame's and its mirror's probabilities, as the still-image path and the
    validation fit do (the tracker calibrates the lesion call on top)."""
    op = OperatingPoint(
        classes=list(CLASSES),
        temperature=0.5,
        view=dict(name='whole', flip=True))
    live = StreamInferencer(
        osp.join(repo_root, CONFIG), tiny, device='cpu', operating_point=op)
    data = live.collate([cv2.imread(p) for p in stills])
    probs = live.predict_probs(data)
    flipped = dict(data, inputs=[x.flip(-1) for x in data['inputs']])
    with torch.no_grad():
        ref = [
            np.stack([s.pred_score.numpy() for s in live.model.test_step(d)])
            for d in (data, flipped)
        ]
    np.testing.assert_allclose(probs, (ref[0] + ref[1]) / 2, atol=1e-5)
    # the mirror matters on these frames: the test would see a missing flip
    assert np.abs(ref[0] - ref[1]).max() > 1e-3
    # and so does a call on a stream (one still, three frames: no motion)
    img = cv2.imread(stills[0])
    out = live([Frame(img, i, i / 30) for i in range(3)])
    used = [f['pred_scores'] for f in out['frames'] if f['used']]
    assert len(used) == 3
    np.testing.assert_allclose(used, np.repeat(probs[:1], 3, 0), atol=1e-5)


def test_call_on_demo_video(inferencer, demo_root, tmp_path):
    gt = make_demo_video(
        demo_root, str(tmp_path / 'v.avi'), num_lesions=2, phases=SHORT_PHASES)
    out = inferencer(
        gt['video'], batch_size=4, out_video=str(tmp_path / 'annotated.mp4'))
    import pandas as pd
    truth = pd.read_csv(gt['frames_csv'])
    frames = out['frames']
    assert len(frames) == len(truth) == gt['frames']
    assert len(out['lesions']) == 2
    for lesion in out['lesions']:
        used = [
            f for f in frames
            if f['lesion_id'] == lesion['lesion_id'] and f['used']
        ]
        np.testing.assert_allclose(
            lesion['pred_scores'],
            np.mean([f['pred_scores'] for f in used], 0),
            atol=1e-9)
        assert lesion['num_images'] == len(used)
    # every simulated defocus (sigma >= 4), motion-blur and halation frame
    # is rejected; no frame is used outside a lesion
    for f, (_, t) in zip(frames, truth.iterrows()):
        if t.phase in ('motion', 'halation', 'no_contact',
                       'withdraw') or (t.phase == 'approach'
                                       and t.blur_sigma >= 4):
            assert not f['accepted'], (f, dict(t))
    cap = cv2.VideoCapture(out['visualization'])
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(truth)
    cap.release()


def test_gate_thresholds_from_the_config(repo_root):
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    cfg.live_gate = dict(type='FrameQualityGate', min_focus=0.9)
    cfg.live_tracker = dict(new_lesion_after=4, ema=0.5)
    inf = StreamInferencer(
        cfg, pretrained=False, device='cpu', classes=CLASSES)
    assert inf.gate.min_focus == 0.9
    tracker = inf.new_tracker()
    assert (tracker.new_lesion_after, tracker.ema) == (4, 0.5)
    assert tracker.op.min_confidence == 0.5 and tracker.op.min_images == 3
    with pytest.raises(ValueError, match='backend'):
        StreamInferencer(cfg, pretrained=False, backend='tensorrt')


def test_pretrained_true_is_load_from_and_built_models_take_a_path(
        repo_root, tiny):
    """Both inferencers build through ``load_model``: ``pretrained=True`` is
    the config's ``load_from``, False keeps the built weights, and a built
    model still takes a checkpoint path."""
    saved = torch.load(tiny, weights_only=True)['state_dict']
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    cfg.load_from = tiny

    def same(model):
        own = model.state_dict()
        return all(torch.equal(own[k], saved[k]) for k in saved)

    for cls in (StreamInferencer, LesionInferencer):
        assert same(cls(cfg, device='cpu').model), cls
        torch.manual_seed(1)
        random = cls(cfg, pretrained=False, device='cpu').model
        assert not same(random), cls
        assert same(cls(random, tiny, device='cpu').model), cls


def test_torchscript_backend_matches_eager(repo_root, tiny, inferencer,
                                           stills):
    traced = StreamInferencer(
        osp.join(repo_root, CONFIG), tiny, device='cpu', backend='torchscript')
    data = inferencer.collate([cv2.imread(p) for p in stills[:2]])
    np.testing.assert_allclose(
        traced.predict_probs(data), inferencer.predict_probs(data), atol=1e-5)
    assert traced.backend.name == 'torchscript'

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Faults of the live CAD, each survived: the run ends, writes what it has and
says what happened."""
import glob
import json
import os
import os.path as osp
import threading

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from ecdl_mm.evaluation.clinical.predictions import load_lesion_predictions
from ecdl_mm.live import FrameSource, LiveSession, NewestSlot, SourceError
from ecdl_mm.live.live_session import read_labels
from ecdl_mm.live.stream_inferencer import fit_to, open_video_writer


@pytest.fixture(scope='module')
def still(demo_root):
    path = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images', '*')))[0]
    return cv2.imread(path)


def read_events(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def run_session(inferencer, source, tmp_path, **kw):  # noqa: F811
    logs = []
    session = LiveSession(
        inferencer,
        source,
        out_video=str(tmp_path / 'out.avi'),
        events=str(tmp_path / 'events.jsonl'),
        lesions_csv=str(tmp_path / 'lesions.csv'),
        pace=False,
        log=logs.append,
        drain_timeout=10,
        **kw)
    summary = session.run()
    return summary, read_events(tmp_path / 'events.jsonl'), logs


def write_video(path, frames, fps=30):
    w = open_video_writer(
        str(path), fps, frames[0].shape[1], frames[0].shape[0])
    for f in frames:
        w.write(fit_to(f, w.size))
    w.release()


def test_newest_slot_replaces_the_waiting_item():
    slot = NewestSlot()
    assert slot.put(1) is None
    assert slot.put(2) == 1
    assert slot.get(timeout=0.01) == 2 and not slot.idle()
    slot.done()
    assert slot.idle() and slot.get(timeout=0.01) is None


def test_truncated_file(tmp_path, still):
    small = cv2.resize(still, (290, 252), interpolation=cv2.INTER_AREA)
    path = tmp_path / 'cut.avi'
    write_video(path, [small] * 30)
    size = osp.getsize(path)
    with open(path, 'r+b') as f:
        f.truncate(size // 2)
    src = FrameSource(str(path), max_corrupt_run=5)
    n = sum(1 for _ in src)
    assert 0 < n < 30
    assert [f['kind'] for f in src.faults] == ['truncated']
    assert f'after {n} readable frames' in src.faults[0]['message']
    # an mp4 cut before its index cannot be opened: one clear error
    mp4 = tmp_path / 'cut.mp4'
    write_video(mp4, [small] * 10)
    with open(mp4, 'r+b') as f:
        f.truncate(osp.getsize(mp4) // 2)
    with pytest.raises(SourceError, match='truncated, or not a video'):
        FrameSource(str(mp4))


def test_corrupt_and_resized_frames(inferencer, tmp_path, still):  # noqa
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i in range(6):
        cv2.imwrite(str(folder / f'{i:03d}.png'), still)
    # a corrupt frame and a resolution change mid-stream
    (folder / '002.png').write_bytes(b'\x89PNG not really')
    for i in range(6, 9):
        cv2.imwrite(
            str(folder / f'{i:03d}.png'), cv2.resize(still, (580, 504)))
    summary, events, logs = run_session(inferencer, FrameSource(str(folder)),
                                        tmp_path)
    assert summary['status'] == 'end'
    assert summary['faults'] == ['corrupt_frame', 'resolution_change']
    frames = [e for e in events if e['type'] == 'frame']
    assert sorted(e['frame'] for e in frames) == [0, 1, 3, 4, 5, 6, 7, 8]
    assert any('[corrupt_frame] frame 2 (002.png)' in line for line in logs)
    cap = cv2.VideoCapture(str(tmp_path / 'out.avi'))
    sizes = set()
    count = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        count += 1
        sizes.add(img.shape)
    cap.release()
    assert count == 8 and sizes == {
        (still.shape[0] // 2 * 2, still.shape[1] // 2 * 2, 3)
    }


class FakeCapture:
    """A capture device that delivers ``frames`` frames, then nothing."""

    def __init__(self, img, frames):
        self.img, self.left = img, frames

    def isOpened(self):
        return self.left is not None

    def read(self):
        if self.left:
            self.left -= 1
            return True, self.img
        return False, None

    def get(self, prop):
        return 0.0

    def release(self):
        pass


def test_device_stops_reconnects_then_gives_up(
        inferencer,
        tmp_path,  # noqa
        still):
    opens = []

    def factory(source, kind):
        opens.append(kind)
        # first open: 5 frames; reopening 1: 3 more; then the device is gone
        return FakeCapture(still, {1: 5, 2: 3}.get(len(opens)))

    src = FrameSource(
        0,
        max_reconnects=3,
        backoff=0.01,
        max_backoff=0.02,
        capture_factory=factory)
    assert src.kind == 'device'
    summary, events, logs = run_session(inferencer, src, tmp_path)
    assert summary['status'] == 'source_lost'
    assert 'no frame after 3 reconnects' in summary['reason']
    kinds = [f['kind'] for f in src.faults]
    assert kinds == ['reconnect'] * 4 + ['source_lost']
    assert len(opens) == 1 + 4
    assert summary['counts']['read'] == 8
    assert events[-1]['type'] == 'end'
    assert osp.isfile(tmp_path / 'lesions.csv')


def test_exception_in_model_thread(
        inferencer,
        tmp_path,
        still,  # noqa
        monkeypatch):
    calls = []
    real = inferencer.predict_probs

    def flaky(data):
        if threading.current_thread().name != 'ecdl-model':
            return real(data)  # the warm-up before the clock
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError('simulated device fault')
        return real(data)

    monkeypatch.setattr(inferencer, 'predict_probs', flaky)
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i in range(40):
        cv2.imwrite(str(folder / f'{i:03d}.jpg'), still)
    done = threading.Event()
    result = {}

    def target():
        result['out'] = run_session(inferencer, FrameSource(str(folder)),
                                    tmp_path)
        done.set()

    threading.Thread(target=target, daemon=True).start()
    assert done.wait(60), 'the session hung after a model exception'
    summary, events, logs = result['out']
    assert summary['status'] == 'model_error'
    assert 'simulated device fault' in summary['reason']
    assert summary['counts']['read'] < 40
    faults = [e for e in events if e['type'] == 'fault']
    assert faults[0]['kind'] == 'model_error'
    # what was diagnosed before the fault is kept
    lesions = [e for e in events if e['type'] == 'lesion']
    assert len(lesions) == 1 and lesions[0]['num_images'] == 2


def stills_table(inferencer, events, tmp_path, labels):
    """LesionMetric's lesion_predictions.csv over the frames the live session
    used, as still images of the same lesions, under the same operating
    point (temperature 1: the live and still calibrations coincide)."""
    from mmengine.evaluator import Evaluator
    from mmpretrain.structures import DataSample
    op = inferencer.operating_point
    assert op.temperature == 1.0
    op.save(str(tmp_path / 'op.json'))
    classes = list(inferencer.classes)
    samples = []
    for e in events:
        if e['type'] != 'frame' or not e['used']:
            continue
        gt = labels[e['lesion_id']]
        meta = dict(gt['metadata'])
        sample = DataSample().set_gt_label(classes.index(gt['gt_class']))
        sample.set_pred_score(torch.tensor(e['probs']))
        sample.set_metainfo(
            dict(
                img_path=f"/f/{e['frame']}.png",
                lesion_id=e['lesion_id'],
                patient_id=gt['patient_id'],
                lesion_meta=meta))
        samples.append(sample)
    evaluator = Evaluator(
        dict(
            type='LesionMetric',
            bootstrap_rounds=0,
            out_dir=str(tmp_path / 'stills'),
            operating_point=str(tmp_path / 'op.json')))
    evaluator.dataset_meta = dict(classes=classes)
    evaluator.process(samples)
    evaluator.evaluate(len(samples))
    return pd.read_csv(
        tmp_path / 'stills' / 'lesion_predictions.csv',
        dtype={'lesion_id': str})


def test_lesions_csv_reads_as_lesion_predictions(
        inferencer,
        tmp_path,  # noqa
        still):
    folder = tmp_path / 'frames'
    folder.mkdir()
    black = np.zeros_like(still)
    seq = [still] * 5 + [black] * 16 + [still] * 5
    for i, img in enumerate(seq):
        cv2.imwrite(str(folder / f'{i:03d}.png'), img)
    pd.DataFrame(
        dict(
            lesion_id=['1', '2'],
            gt_class=['adenomas', 'non-neoplastic'],
            patient_id=['P1', 'P2'],
            size_mm=['4', '12'],
            location=['Sigmoid', 'caecum'])).to_csv(
                tmp_path / 'labels.csv', index=False)
    labels = read_labels(str(tmp_path / 'labels.csv'))
    summary, events, _ = run_session(
        inferencer, FrameSource(str(folder)), tmp_path, labels=labels)
    preds = load_lesion_predictions(str(tmp_path / 'lesions.csv'))
    assert preds.lesion_ids == ['1', '2']
    assert preds.target.tolist() == [0, 2]
    lesions = {e['lesion_id']: e for e in events if e['type'] == 'lesion'}
    for i, lid in enumerate(preds.lesion_ids):
        used = [
            e['probs'] for e in events
            if e['type'] == 'frame' and e['used'] and e['lesion_id'] == lid
        ]
        np.testing.assert_allclose(
            preds.scores[i], np.mean(used, 0), atol=1e-9)
        assert lesions[lid]['num_images'] == len(used)
    stills = stills_table(inferencer, events, tmp_path, labels)
    live = pd.read_csv(tmp_path / 'lesions.csv', dtype={'lesion_id': str})
    # the stills' header, the calibrated group and the labels' metadata
    assert list(live.columns) == list(stills.columns)
    assert {
        'cal_prob_adenomas', 'confidence', 'uncertain', 'size_mm', 'location',
        'rectosigmoid'
    } <= set(live.columns)
    pd.testing.assert_frame_equal(
        live, stills, check_exact=False, rtol=1e-6, atol=0)
    assert live['location'].tolist() == ['sigmoid', 'caecum']
    assert live['rectosigmoid'].tolist() == [True, False]
    assert not os.path.exists(tmp_path / 'nothing')


def test_source_kinds_and_open_errors(tmp_path):
    # nothing listens on the discard port of the loopback: refused at once
    with pytest.raises(SourceError, match='as a stream URL'):
        FrameSource('rtsp://127.0.0.1:9/none', timeout=1.0)
    with pytest.raises(FileNotFoundError, match='neither a file'):
        FrameSource(str(tmp_path / 'nothing.mp4'))
    kinds = []
    FrameSource(
        '/dev/video3',
        capture_factory=lambda s, k: kinds.append(k) or FakeCapture(None, 1))
    FrameSource(
        2,
        capture_factory=lambda s, k: kinds.append(k) or FakeCapture(None, 1))
    assert kinds == ['device', 'device']


def test_first_frame_shape_is_warmed_before_the_clock(inferencer, tmp_path,
                                                      still, monkeypatch):
    # what the first frame would pay once (a CUDA graph for the view's
    # batch, pinned buffers) is paid on a black frame of the source's
    # declared size before the session's clock starts
    small = cv2.resize(still, (290, 252), interpolation=cv2.INTER_AREA)
    video = tmp_path / 'v.avi'
    write_video(video, [small] * 4)
    assert FrameSource(str(video)).frame_shape == small.shape
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i in range(10):
        cv2.imwrite(str(folder / f'{i:03d}.jpg'), still)
    src = FrameSource(str(folder))
    assert src.frame_shape == still.shape
    calls = []
    real = inferencer.predict_probs

    def spy(data):
        calls.append((threading.current_thread().name, data))
        return real(data)

    monkeypatch.setattr(inferencer, 'predict_probs', spy)
    summary, events, _ = run_session(inferencer, src, tmp_path)
    assert summary['counts']['used'] >= 1
    assert calls[0][0] == threading.main_thread().name
    worker = [c for c in calls[1:] if c[0] == 'ecdl-model']
    assert len(worker) == summary['counts']['used'] == len(calls) - 1
    # the warm-up went through the same pre-processing, to the same shape
    first, later = calls[0][1]['inputs'], worker[0][1]['inputs']
    assert [tuple(t.shape) for t in first] == [tuple(t.shape) for t in later]

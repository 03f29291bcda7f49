# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The quality gate beside the model (``LiveSession(overlap_gate=...)``):
the same frames used, the same probabilities and lesion calls as gating
first; a rejected frame's result is dropped; a stopped loop never leaves
the model thread waiting."""
import glob
import json
import os.path as osp
import threading

import cv2
import numpy as np
import pytest

from ecdl_mm.live import FrameSource, LiveSession
from ecdl_mm.live.gate_overlap import GateVerdict


class Lockstep(FrameSource):
    """Yields the next frame only once the model thread is idle, so that no
    frame is superseded and two runs see the same frames."""
    session = None

    def __iter__(self):
        for frame in super().__iter__():
            if self.session is not None:
                assert self.session.slot.wait_idle(20), 'model thread stuck'
            yield frame


@pytest.fixture(scope='module')
def frames_dir(demo_root, tmp_path_factory):
    paths = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images', '*')))
    a, b = cv2.imread(paths[0]), cv2.imread(paths[-1])
    blurred = cv2.GaussianBlur(a, (0, 0), 12)
    black = np.zeros_like(a)
    seq = [a, a, blurred, a, a, a, blurred] + [black] * 16 + [b, b, b, b]
    folder = tmp_path_factory.mktemp('overlap')
    for i, img in enumerate(seq):
        cv2.imwrite(str(folder / f'{i:03d}.png'), img)
    return str(folder)


def run(inferencer, folder, tmp_path, overlap, name):
    src = Lockstep(folder)
    session = LiveSession(
        inferencer,
        src,
        events=str(tmp_path / f'{name}.jsonl'),
        pace=False,
        log=lambda line: None,
        drain_timeout=20,
        overlap_gate=overlap)
    src.session = session
    calls = []
    real = inferencer.predict_probs

    def spy(data):
        calls.append(threading.current_thread().name)
        return real(data)

    inferencer.predict_probs = spy
    try:
        summary = session.run()
    finally:
        del inferencer.predict_probs
    with open(tmp_path / f'{name}.jsonl') as f:
        events = [json.loads(line) for line in f]
    return summary, events, calls.count('ecdl-model')


def test_overlap_uses_the_same_frames_and_calls(inferencer, frames_dir,
                                                tmp_path):
    s0, ev0, n0 = run(inferencer, frames_dir, tmp_path, False, 'gate_first')
    s1, ev1, n1 = run(inferencer, frames_dir, tmp_path, True, 'overlap')
    assert (s0['overlap_gate'], s1['overlap_gate']) == (False, True)
    assert s0['counts'] == s1['counts']
    reasons = [e['reason'] for e in ev0 if e['type'] == 'frame']
    assert {'blur', 'no_field'} <= set(reasons), reasons  # rejections
    # gating first, the model sees the used frames only; beside the gate
    # it sees every frame read, and drops the rejected ones' results
    assert n0 == s0['counts']['used'] < s0['counts']['read'] == n1
    f0 = [e for e in ev0 if e['type'] == 'frame']
    f1 = [e for e in ev1 if e['type'] == 'frame']
    key = (lambda e: e['frame'])
    f0, f1 = sorted(f0, key=key), sorted(f1, key=key)
    assert [
        (e['frame'], e['used'], e.get('not_used'), e['lesion_id']) for e in f0
    ] == [(e['frame'], e['used'], e.get('not_used'), e['lesion_id'])
          for e in f1]
    for a, b in zip(f0, f1):
        if a['used']:
            np.testing.assert_allclose(a['probs'], b['probs'], atol=1e-6)
    l0 = [e for e in ev0 if e['type'] == 'lesion']
    l1 = [e for e in ev1 if e['type'] == 'lesion']
    assert len(l0) == 2
    assert [
        (c['lesion_id'], c['pred_class'], c['num_images']) for c in l0
    ] == [(c['lesion_id'], c['pred_class'], c['num_images']) for c in l1]


def test_overlap_is_off_on_the_cpu_by_default(inferencer, frames_dir):
    assert LiveSession(
        inferencer, FrameSource(frames_dir), log=print).overlap_gate is False


def test_a_gate_that_raises_releases_the_model_thread(inferencer, frames_dir,
                                                      tmp_path, monkeypatch):
    real = inferencer.gate.__call__
    seen = []

    def gate(img):
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt  # Ctrl-C while gating
        return real(img)

    monkeypatch.setattr(inferencer, 'gate', gate, raising=False)
    monkeypatch.setattr(gate, 'reset', lambda: None, raising=False)
    done = threading.Event()
    out = {}

    def target():
        out['s'] = run(inferencer, frames_dir, tmp_path, True, 'ki')[0]
        done.set()

    threading.Thread(target=target, daemon=True).start()
    assert done.wait(30), 'the session hung after the gate was interrupted'
    assert out['s']['status'] == 'interrupted'
    assert out['s']['counts']['read'] == 3


def test_verdict_wait_times_out_with_a_clear_message():
    v = GateVerdict()
    with pytest.raises(TimeoutError, match='no quality-gate verdict'):
        v.wait(0.01)
    v.set(True, 'L1', {'accepted': True})
    assert v.wait(0.01).lesion_id == 'L1' and v.known

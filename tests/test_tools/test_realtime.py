# Copyright (c) ecdl_mm contributors. All rights reserved.
"""tools/realtime.py and tools/misc/make_demo_video.py end to end."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from helpers.stream import CONFIG, SHORT_PHASES, save_tiny_checkpoint

from ecdl_mm.evaluation.clinical.predictions import load_lesion_predictions


@pytest.fixture(scope='module')
def ckpt(repo_root, tmp_path_factory):
    return save_tiny_checkpoint(
        repo_root, str(tmp_path_factory.mktemp('rt') / 'tiny.pth'))


def events_of(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_realtime_on_demo_video(run_script, demo_root, ckpt, tmp_path):
    from ecdl_mm.live.demo_video import make_demo_video
    video = str(tmp_path / 'demo.avi')
    make_demo_video(demo_root, video, num_lesions=2, phases=SHORT_PHASES)
    truth = pd.read_csv(str(tmp_path / 'demo.frames.csv'))
    out = tmp_path / 'live'
    proc = run_script([
        'tools/realtime.py', CONFIG, ckpt, '--source', video, '--out-video',
        str(out / 'annotated.mp4'), '--events',
        str(out / 'events.jsonl'), '--out-lesions',
        str(out / 'lesions.csv'), '--labels',
        str(tmp_path / 'demo.labels.csv'), '--min-confidence', '0.4',
        '--threads', '1', '--no-pace', '--gate-overlap', 'on'
    ])
    assert 'done: end' in proc.stdout and proc.stderr.strip() == '' or \
        'WARN' in proc.stderr
    events = events_of(out / 'events.jsonl')
    assert events[0]['type'] == 'session' and events[-1]['type'] == 'end'
    # the gate beside the model, forced on (auto: on a GPU only)
    assert events[0]['overlap_gate'] is True
    assert events[-1]['overlap_gate'] is True
    # provenance sidecars of every output (issue 27)
    from ecdl_mm.utils.provenance import file_sha256, read_sidecar
    for name in ('events.jsonl', 'lesions.csv', 'annotated.mp4'):
        prov = read_sidecar(str(out / name))
        assert prov['inputs']['source']['path'] == osp.abspath(video)
        assert file_sha256(ckpt).startswith(
            prov['checkpoint']['sha256_prefix'])
    frames = {e['frame']: e for e in events if e['type'] == 'frame'}
    assert sorted(frames) == list(range(len(truth)))
    lesions = [e for e in events if e['type'] == 'lesion']
    assert [e['lesion_id'] for e in lesions] == ['1', '2']
    # the lesion calls, recomputed from the per-frame events
    for les in lesions:
        used = [
            frames[i] for i in sorted(frames)
            if frames[i]['used'] and frames[i]['lesion_id'] == les['lesion_id']
        ]
        mean = np.mean([f['probs'] for f in used], 0)
        np.testing.assert_allclose(les['pred_scores'], mean, atol=1e-9)
        assert les['num_images'] == len(used)
        assert les['uncertain'] == bool(mean.max() < 0.4 or len(used) < 3)
        assert les['frames'] == [f['frame'] for f in used]
    # the gate rejects every simulated blur: defocus sigma >= 4 and the
    # motion-blurred slip
    blurred = truth[(truth.phase == 'motion') | ((truth.phase == 'approach') &
                                                 (truth.blur_sigma >= 4))]
    assert len(blurred) == 10  # 3 defocused + 2 slipping, per lesion
    assert not any(frames[i]['accepted'] for i in blurred.frame)
    # steady contact (the first frame of a contact run jumps from the frame
    # before: motion) is diagnosed
    steady = truth[(truth.phase == 'contact')
                   & (truth.phase.shift(1) == 'contact')]
    accepted = np.mean([frames[i]['accepted'] for i in steady.frame])
    assert accepted > 0.9
    preds = load_lesion_predictions(str(out / 'lesions.csv'))
    assert list(preds.target) == [
        preds.classes.index(c)
        for c in pd.read_csv(tmp_path / 'demo.labels.csv').gt_class
    ]


def test_sigint_writes_what_it_has(run_tool, repo_root, demo_root, ckpt,
                                   tmp_path):
    video = str(tmp_path / 'v.avi')
    proc = run_tool([
        'tools/misc/make_demo_video.py', video, '--demo-root', demo_root,
        '--lesions', '2', '--width', '580'
    ])
    assert 'synthesized from the real demo stills' in proc.stdout
    # the old name of --num-lesions still works, and says so (issue 28)
    assert 'FutureWarning: --lesions is deprecated and will be removed: it ' \
        'is now --num-lesions' in proc.stdout
    assert len(pd.read_csv(str(tmp_path / 'v.labels.csv'))) == 2
    num_frames = len(pd.read_csv(str(tmp_path / 'v.frames.csv')))
    events = tmp_path / 'events.jsonl'
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join(
            [repo_root, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.Popen([
        sys.executable, 'tools/realtime.py', CONFIG, ckpt, '--source', video,
        '--events',
        str(events), '--out-lesions',
        str(tmp_path / 'lesions.csv'), '--threads', '1'
    ],
                            cwd=repo_root,
                            env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        seen = 0
        while seen < 30 and time.monotonic() < deadline:
            try:  # wait on the process, a bounded time, between looks
                proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if events.exists():
                with open(events) as f:
                    seen = sum(1 for line in f if '"frame"' in line)
        assert proc.poll() is None, proc.communicate()
        assert seen >= 30
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (stdout, stderr)
    assert 'interrupted (SIGINT)' in stderr
    lines = events_of(events)
    assert lines[-1]['type'] == 'end'
    assert lines[-1]['status'] == 'interrupted'
    read = lines[-1]['counts']['read']
    assert 30 <= read < num_frames
    assert osp.isfile(tmp_path / 'lesions.csv')


def test_old_lesions_option_of_realtime_still_works(repo_root, monkeypatch):
    # issue 28: --lesions was a count in make_demo_video.py and an output CSV
    # here; now --out-lesions, the old name warns and still works
    import runpy
    import warnings
    tool = runpy.run_path(
        osp.join(repo_root, 'tools/realtime.py'), run_name='realtime_tool')
    argv = ['realtime.py', 'c.py', 'k.pth', '--source', 'v.avi']
    monkeypatch.setattr(sys, 'argv', argv + ['--lesions', 'old.csv'])
    with pytest.warns(FutureWarning) as record:
        args = tool['parse_args']()
    assert args.out_lesions == 'old.csv'
    assert str(record[0].message).startswith(
        '--lesions is deprecated and will be removed: it is now '
        '--out-lesions')
    monkeypatch.setattr(sys, 'argv', argv + ['--out-lesions', 'new.csv'])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert tool['parse_args']().out_lesions == 'new.csv'

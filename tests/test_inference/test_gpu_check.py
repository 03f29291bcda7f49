# Copyright (c) ecdl_mm contributors. All rights reserved.
"""``benchmarks/gpu_check.sh``: the JSON schema and markdown table of a CPU
dry run, GPU-only rows skipped with a reason, and a missing package named in
one line."""
import json
import os
import subprocess
import sys

SECTIONS = {'live', 'model', 'lesion', 'train'}


def test_dry_run_writes_the_schema(repo_root, run_script, tmp_path,
                                   monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(repo_root, 'benchmarks'))
    out = tmp_path / 'gc'
    run_script([
        'benchmarks/gpu_check.py', '--out', out, '--dry-run', '--only',
        'model', 'train'
    ])
    doc = json.loads((out / 'gpu_check.json').read_text())
    assert doc['schema'] == 'ecdl_mm.gpu_check/1'
    assert {'torch', 'cuda', 'cpu'} <= set(doc['env'])
    rows = doc['rows']
    assert {r['section'] for r in rows} == {'model', 'train'}
    for r in rows:
        assert set(r) == {
            'section', 'case', 'metric', 'value', 'unit', 'skipped'
        }
        # a figure or the reason it is missing, never neither
        assert (r['value'] is None) == (r['skipped'] is not None), r
    eager = [r for r in rows if r['case'] == 'ours eager fp32']
    assert len(eager) == 1 and eager[0]['value'] > 0
    gpu_only = [r for r in rows if 'cuda-graph' in r['case']]
    assert {r['case']
            for r in gpu_only
            } >= {'ours cuda-graph fp16', 'ours cuda-graph bf16'}
    assert all('CUDA' in r['skipped'] for r in gpu_only
               if not r['case'].startswith('timm'))
    assert rows[-1]['section'] == 'train' and 'CUDA' in rows[-1]['skipped']
    table = (out / 'gpu_check.md').read_text().splitlines()
    body = [
        line for line in table
        if line.startswith('| model') or line.startswith('| train')
    ]
    assert len(body) == len(rows)


def test_missing_package_is_one_line(repo_root, tmp_path):
    # a Python without torch: the script names it and runs nothing
    env = dict(os.environ, PYTHON=sys.executable)
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\n'
                    'case "$2" in "import torch") exit 1;; esac\n'
                    f'exec {sys.executable} "$@"\n')
    fake.chmod(0o755)
    env['PYTHON'] = str(fake)
    proc = subprocess.run(
        ['bash', 'benchmarks/gpu_check.sh',
         str(tmp_path / 'o'), '--dry-run'],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines() == [
        "gpu_check.sh: package 'torch' is missing (install "
        'requirements/runtime.txt); nothing was run'
    ]
    assert not (tmp_path / 'o').exists()


def test_train_rows_keep_a_failed_case_and_the_goals(repo_root, monkeypatch):
    """``bench_gpu_train.py``'s record into gpu_check rows: a case that
    raised is a row with its error (the others stay), each ratio has the
    issue's goal (0.9 for an end to end, none for a GPU data path's
    step against the plain step)."""
    monkeypatch.syspath_prepend(os.path.join(repo_root, 'benchmarks'))
    import gpu_check
    rep = gpu_check.Report()
    doc = dict(
        rows=[
            dict(
                case='stage3_ecdl_clustering',
                img_per_s=1600.0,
                e2e_img_per_s=480.0,
                e2e_vs_step=0.3),
            dict(
                case='stage3_clustering_gpu_augment',
                img_per_s=None,
                error="RuntimeError('nvjpeg')"),
        ],
        ratios=[
            dict(
                name='stage3_clustering_gpu_augment end to end / '
                'stage3_ecdl_clustering step',
                value=0.95),
            dict(
                name='stage3_clustering_gpu_augment/stage3_ecdl_clustering '
                'step img/s',
                value=0.97),
            dict(
                name='stage3_ecdl_clustering/stage3_timm_vit step img/s',
                value=0.8),
        ])
    gpu_check.add_train_rows(rep, doc)
    failed = [r for r in rep.rows if r['metric'] == 'error']
    assert [(r['case'], r['skipped']) for r in failed
            ] == [('stage3_clustering_gpu_augment', "RuntimeError('nvjpeg')")]
    assert rep.errors[0]['case'] == 'stage3_clustering_gpu_augment'
    assert {
        r['metric']: r['value']
        for r in rep.rows if r['case'] == 'stage3_ecdl_clustering'
    }['step img/s'] == 1600
    goals = {r['name']: (r['goal'], r['met']) for r in rep.ratios}
    assert goals['train stage3_ecdl_clustering end to end / step'] == (0.9,
                                                                       False)
    assert goals['train stage3_clustering_gpu_augment end to end / '
                 'stage3_ecdl_clustering step'] == (0.9, True)
    assert goals['train stage3_clustering_gpu_augment/stage3_ecdl_clustering '
                 'step img/s'] == (None, None)
    assert goals[
        'train stage3_ecdl_clustering/stage3_timm_vit step img/s'] == (0.9,
                                                                       False)


def test_a_live_session_that_failed_is_an_error_not_figures(
        repo_root, monkeypatch, tmp_path):
    """``LiveSession.run`` catches a model or source failure and returns
    the frames it had: gpu_check reports such a session as an error."""
    from types import SimpleNamespace

    import ecdl_mm.live as live
    import ecdl_mm.live.demo_video as demo_video
    monkeypatch.syspath_prepend(os.path.join(repo_root, 'benchmarks'))
    import gpu_check

    class Session:

        def __init__(self, *args, **kwargs):
            pass

        def run(self):
            return dict(
                status='model_error',
                reason='CUDA error: an illegal memory access',
                counts=dict(read=12, used=3),
                faults=[],
                latency_ms_p50=2.0,
                latency_ms_p99=3.0,
                late_frames=0,
                model_ms_p50=0.8)

    monkeypatch.setattr(live, 'LiveSession', Session)
    monkeypatch.setattr(live, 'FrameSource', lambda path: None)
    monkeypatch.setattr(demo_video, 'make_demo_video', lambda *a, **k: None)
    monkeypatch.setattr(gpu_check, 'stream_inferencers',
                        lambda args, cfg: [('new', lambda: None)])
    rep = gpu_check.Report()
    args = SimpleNamespace(dry_run=True, demo_root=str(tmp_path))
    gpu_check.bench_live(args, None, rep)
    assert [(e['section'], e['case'])
            for e in rep.errors] == [('live', '30 fps new'),
                                     ('live', '60 fps new')]
    assert 'model_error' in rep.errors[0]['error']
    assert not [r for r in rep.rows if r['metric'] == 'latency p50']


def test_a_train_run_killed_for_time_keeps_its_finished_cases(
        repo_root, monkeypatch, tmp_path):
    """bench_gpu_train.py writes its record after every case, so the cases
    finished before gpu_check's time limit killed it still give rows."""
    from types import SimpleNamespace
    monkeypatch.syspath_prepend(os.path.join(repo_root, 'benchmarks'))
    import bench_gpu_train
    import gpu_check

    def killed(cmd, timeout, **kwargs):
        out = cmd[cmd.index('--out') + 1]
        bench_gpu_train._write_partial(out, [
            dict(case='stage2_ecmae', e2e_img_per_s=1400.0),
            dict(case='stage2_ecmae_gpu_decode', error="RuntimeError('x')")
        ])
        raise subprocess.TimeoutExpired(cmd, timeout)

    monkeypatch.setattr(gpu_check.subprocess, 'run', killed)
    rep = gpu_check.Report()
    args = SimpleNamespace(dry_run=False, out=str(tmp_path), train_timeout=20)
    gpu_check.bench_train(args, rep, 100)
    rows = {(r['case'], r['metric']): r for r in rep.rows}
    assert rows[('stage2_ecmae', 'end-to-end img/s')]['value'] == 1400.0
    assert 'timed out after 20 s' in rows[('bench_gpu_train.py',
                                           'img/s')]['skipped']
    assert [e['case'] for e in rep.errors] == ['stage2_ecmae_gpu_decode']

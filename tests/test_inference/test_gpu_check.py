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

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""``bash tools/run_tests.sh [PYTEST ARGS]`` (issue 28, finding 5): paths
given run alone; ``--smoke`` is the README's ~1-minute subset."""
import os.path as osp
import re

ONE = 'tests/test_models/test_losses/test_lpips_loss.py'


def _collected(proc):
    """The node ids ``pytest --collect-only -q`` printed."""
    return [
        line for line in proc.stdout.splitlines()
        if '::' in line and line.startswith('tests/')
    ]


def test_paths_given_run_alone(run_tool):
    proc = run_tool(['bash', 'tools/run_tests.sh', ONE, '--collect-only'])
    ids = _collected(proc)
    assert ids, proc.stdout
    # the file's own tests, counted from its source: nothing else
    with open(ONE, encoding='utf-8') as f:
        tests = re.findall(r'^def (test_\w+)', f.read(), re.M)
    assert {i.split('::')[1].split('[')[0] for i in ids} == set(tests)
    assert {i.split('::')[0] for i in ids} == {ONE}


def test_smoke_subset_is_the_scripts_list(repo_root):
    script = open(osp.join(repo_root, 'tools', 'run_tests.sh')).read()
    listed = re.search(r'^SMOKE=\((.*?)^\)', script, re.M | re.S).group(1)
    files = listed.split()
    assert len(files) >= 5
    for f in files:
        assert osp.isfile(osp.join(repo_root, f)), f
    # the README shows this command
    readme = open(osp.join(repo_root, 'README.md'), encoding='utf-8').read()
    assert 'bash tools/run_tests.sh --smoke' in readme

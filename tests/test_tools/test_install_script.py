# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The set-up section (issue 28, finding 8): the install size it states is
this venv's (when it is the default CUDA build of torch), and
``tools/install.sh --cpu`` installs torch and torchvision from the CPU-only
index before the rest (checked with a stand-in python that records its
pip commands: nothing is downloaded)."""
import os
import os.path as osp
import re
import stat
import subprocess
import sys

import pytest

SECTION = '## Set-up and tests'


def _setup_section(repo_root):
    text = open(osp.join(repo_root, 'README.md'), encoding='utf-8').read()
    start = text.index(SECTION)
    end = text.index('\n## ', start + len(SECTION))
    return text[start:end]


def _record_pip(tmp_path, repo_root, *args):
    """Run install.sh with a stand-in ``.venv/bin/python``; its command
    lines, one a line."""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    log = tmp_path / 'calls.txt'
    fake = venv / 'bin' / 'python'
    fake.write_text('#!/bin/sh\necho "$*" >> "$CALLS"\n'
                    'if [ "$1" = - ]; then cat > /dev/null; fi\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    proc = subprocess.run(['bash', 'tools/install.sh', *args],
                          cwd=repo_root,
                          env=dict(os.environ, VENV=str(venv), CALLS=str(log)),
                          stdin=subprocess.DEVNULL,
                          capture_output=True,
                          text=True,
                          timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc, calls


def test_cpu_install_takes_torch_from_the_cpu_index(tmp_path, repo_root):
    lock = open(osp.join(repo_root, 'requirements', 'lock.txt')).read()
    torch_v = re.search(r'^torch==(\S+)', lock, re.M).group(1)
    vision_v = re.search(r'^torchvision==(\S+)', lock, re.M).group(1)

    proc, calls = _record_pip(tmp_path, repo_root, '--cpu')
    assert proc.returncode == 0, proc.stderr
    pip = [c for c in calls if c.startswith('-m pip install')]
    [cpu] = [c for c in pip if '--index-url' in c]
    assert cpu.split() == [
        '-m', 'pip', 'install', '--quiet', '-c', 'requirements/lock.txt',
        '--index-url', 'https://download.pytorch.org/whl/cpu',
        f'torch=={torch_v}+cpu', f'torchvision=={vision_v}+cpu'
    ]
    main = [c for c in pip if '-r requirements/runtime.txt' in c]
    assert len(main) == 1
    assert pip.index(cpu) < pip.index(main[0])  # before the rest

    # the default: no CPU index
    _, default = _record_pip(tmp_path / 'd', repo_root)
    assert default and not [c for c in default if '--index-url' in c]
    # a typo is one line, exit 2
    proc, _ = _record_pip(tmp_path / 'e', repo_root, '--cpuu')
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("install.sh: unknown argument '--cpuu' "
                                   '(only --cpu)')


def test_readme_states_install_size_and_the_cpu_install(repo_root):
    section = _setup_section(repo_root)
    assert 'bash tools/install.sh --cpu' in section
    assert 'https://download.pytorch.org/whl/cpu' in section
    assert 'reachable' in section
    size = re.search(r'`\.venv` takes ([0-9.]+) GB', section)
    assert size, 'the set-up section states the .venv size'
    import torch
    if torch.version.cuda is None:
        pytest.skip('this venv has the CPU-only torch: the stated size is '
                    "the default CUDA build's")
    prefix = osp.realpath(sys.prefix)
    kib = int(
        subprocess.run(['du', '-sk', prefix],
                       capture_output=True,
                       text=True,
                       check=True).stdout.split()[0])
    # the README's tolerance: within 10 %
    assert kib / 2**20 == pytest.approx(float(size.group(1)), rel=0.10)

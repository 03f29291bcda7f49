# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Print requirements/lock.txt: the exact versions of this environment.

Run with the python of a venv that passed the test suite::

    .venv/bin/python tools/lock_requirements.py > requirements/lock.txt

Pins every distribution that ``requirements/{runtime,mminstall,tests}.txt``
need, directly or through their dependencies (extras included), at the
version installed here.
"""
import importlib.metadata as md
import os.path as osp
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SOURCES = ('runtime.txt', 'mminstall.txt', 'tests.txt', 'lint.txt', 'docs.txt',
           'reader_app.txt', 'turbojpeg.txt')
HEADER = """\
# The exact versions the test suite runs with (CI: tools/install.sh installs
# requirements/*.txt with `-c requirements/lock.txt`).
# Python {py}, {plat}; torch/torchvision are the PyPI builds (CPU is
# enough for the tests).
# Regenerate from a venv that passed the suite:
#   .venv/bin/python tools/lock_requirements.py > requirements/lock.txt
"""


def read_requirements(path):
    """The requirements of one file, comments and blank lines dropped."""
    with open(path) as f:
        lines = [line.split('#')[0].strip() for line in f]
    return [Requirement(line) for line in lines if line]


def closure(roots):
    """``{name: installed version}`` of ``roots`` and all they need."""
    versions, done = {}, set()
    stack = [(req, '') for req in roots]
    while stack:
        req, extra = stack.pop()
        if req.marker is not None and not req.marker.evaluate({'extra': extra
                                                               }):
            continue
        key = (canonicalize_name(req.name), tuple(sorted(req.extras)))
        if key in done:
            continue
        done.add(key)
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            raise SystemExit(f'{req.name} is required but not installed')
        versions[key[0]] = dist.version
        for text in dist.requires or []:
            sub = Requirement(text)
            for e in [''] + sorted(req.extras):
                if sub.marker is None or sub.marker.evaluate({'extra': e}):
                    stack.append((sub, e))
                    break
    return versions


def main():
    roots = []
    for name in SOURCES:
        roots += read_requirements(osp.join(REPO_ROOT, 'requirements', name))
    versions = closure(roots)
    py = '.'.join(map(str, sys.version_info[:2]))
    sys.stdout.write(
        HEADER.format(
            py=py,
            plat='Linux x86_64' if sys.platform == 'linux' else sys.platform))
    for name in sorted(versions):
        sys.stdout.write(f'{name}=={versions[name]}\n')


if __name__ == '__main__':
    main()

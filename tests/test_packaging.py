# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The package declares version ranges, not pins: its built metadata, the
environment it is tested in, the lock file and pip's own resolution agree."""
import glob
import importlib.metadata as md
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

# The stack whose lowest tested versions the ranges state (README,
# "Supported versions").
CORE = {'torch', 'torchvision', 'mmengine', 'mmpretrain', 'mmcv-lite'}


def _read(repo_root, name):
    with open(osp.join(repo_root, 'requirements', name)) as f:
        lines = [line.split('#')[0].strip() for line in f]
    return [Requirement(line) for line in lines if line]


@pytest.fixture(scope='module')
def built_requires(repo_root, tmp_path_factory):
    """Requires-Dist of the wheel metadata that setup.py builds (PEP 517)."""
    out = tmp_path_factory.mktemp('metadata')
    proc = subprocess.run([
        sys.executable, '-c', 'import sys; from setuptools import build_meta; '
        'print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))',
        str(out)
    ],
                          cwd=repo_root,
                          capture_output=True,
                          text=True,
                          check=True)
    dist_info = out / proc.stdout.strip().splitlines()[-1]
    dist = md.PathDistribution(dist_info)
    assert dist.metadata['Name'] == 'ecdl_mm'
    return [Requirement(r) for r in dist.requires]


def test_built_metadata_declares_ranges(built_requires, repo_root):
    by_name = {canonicalize_name(r.name): r for r in built_requires}
    for req in built_requires:
        ops = {spec.operator for spec in req.specifier}
        assert not ops & {'==', '==='}, f'{req} is an exact pin'
    for name in CORE:
        ops = {spec.operator for spec in by_name[name].specifier}
        assert '>=' in ops, f'{by_name[name]} has no lower bound'
    # The TurboJPEG wheel is asked for only where one exists and its library
    # is found (Linux x86_64): Linux aarch64 has none (and no sdist).
    turbo = by_name['turbojpeg'].marker
    assert turbo.evaluate(
        dict(
            extra='turbojpeg', sys_platform='linux',
            platform_machine='x86_64'))
    assert not turbo.evaluate(
        dict(
            extra='turbojpeg',
            sys_platform='linux',
            platform_machine='aarch64'))
    # mmcv-lite is an extra: required, it would be installed over full mmcv.
    assert str(by_name['mmcv-lite'].marker) == 'extra == "mmcv-lite"'
    for name in ('torch', 'torchvision', 'mmengine', 'mmpretrain'):
        assert by_name[name].marker is None
    # The metadata is what requirements/*.txt say, nothing dropped.
    declared = []
    for name in ('runtime.txt', 'mminstall.txt', 'tests.txt', 'reader_app.txt',
                 'docs.txt', 'turbojpeg.txt'):
        declared += _read(repo_root, name)
    assert {(canonicalize_name(r.name), str(r.specifier))
            for r in declared} == {(n, str(r.specifier))
                                   for n, r in by_name.items()}


def test_environment_satisfies_declared_ranges(built_requires):
    """The environment running the tests is inside the declared ranges."""
    for req in built_requires:
        if req.marker is not None and not any(
                req.marker.evaluate({'extra': extra})
                for extra in ('mmcv-lite', 'tests', 'reader-app', 'docs',
                              'turbojpeg')):
            continue
        if canonicalize_name(req.name) == 'mmcv-lite':
            # Either distribution provides `mmcv`; both use one numbering.
            try:
                version = md.version('mmcv-lite')
            except md.PackageNotFoundError:
                version = md.version('mmcv')
        else:
            version = md.version(req.name)
        assert req.specifier.contains(Version(version), prereleases=True), \
            f'installed {req.name} {version} is outside {req}'


def test_lock_pins_every_requirement_inside_its_range(repo_root):
    with open(osp.join(repo_root, 'requirements', 'lock.txt')) as f:
        lines = [line.split('#')[0].strip() for line in f]
    pins = {}
    for line in filter(None, lines):
        req = Requirement(line)
        (spec, ) = req.specifier
        assert spec.operator == '==', f'lock.txt: {line!r} is not a pin'
        pins[canonicalize_name(req.name)] = Version(spec.version)
    for name in ('runtime.txt', 'mminstall.txt', 'tests.txt', 'lint.txt',
                 'reader_app.txt', 'docs.txt'):
        for req in _read(repo_root, name):
            pin = pins.get(canonicalize_name(req.name))
            assert pin is not None, f'{req.name} ({name}) is not in lock.txt'
            assert req.specifier.contains(pin), \
                f'lock.txt pins {req.name}=={pin}, outside {req} ({name})'


def test_pip_installs_nothing_but_ecdl_mm_here(repo_root, tmp_path):
    """pip, resolving against this environment only (no index, no pip
    config), would install ecdl_mm alone: the installed torch and stack stay
    as they are."""
    report = tmp_path / 'report.json'
    env = {k: v for k, v in os.environ.items() if not k.startswith('PIP_')}
    env['PIP_CONFIG_FILE'] = os.devnull
    proc = subprocess.run([
        sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-index',
        '--no-build-isolation', '--quiet', '--report',
        str(report), repo_root
    ],
                          capture_output=True,
                          text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    install = json.loads(report.read_text())['install']
    names = sorted(canonicalize_name(i['metadata']['name']) for i in install)
    assert names == ['ecdl-mm'], names


def test_wheel_carries_what_mim_reads(repo_root, tmp_path):
    """A wheel built from the repository holds ecdl_mm/.mim (configs/, tools/,
    model-index.yml), where `mim search / train / test ecdl_mm` look, and the
    model index read from there points at configs that are in the wheel."""
    import zipfile

    from modelindex.load_model_index import load

    # A copy of the sources: building in place would turn the editable
    # install's .mim links into copies.
    src = tmp_path / 'src'
    skip = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim', 'work_dirs')
    for name in ('ecdl_mm', 'configs', 'tools', 'requirements'):
        shutil.copytree(osp.join(repo_root, name), src / name, ignore=skip)
    for name in ('setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml'):
        shutil.copy(osp.join(repo_root, name), src / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith('PIP_')}
    env['PIP_CONFIG_FILE'] = os.devnull
    proc = subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-index',
        '--no-build-isolation', '--quiet', '-w',
        str(tmp_path / 'dist'),
        str(src)
    ],
                          capture_output=True,
                          text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel, ) = (tmp_path / 'dist').glob('ecdl_mm-*.whl')
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / 'site')
    mim = tmp_path / 'site' / 'ecdl_mm' / '.mim'
    for path in ('model-index.yml', 'configs/ecdl/metafile.yml',
                 'configs/ecdl/README.md', 'tools/train.py', 'tools/test.py',
                 'tools/dist_train.sh'):
        assert f'ecdl_mm/.mim/{path}' in names, path
    shipped = {
        osp.relpath(p, repo_root)
        for p in glob.glob(
            osp.join(repo_root, 'configs', '**', '*.py'), recursive=True)
    }
    in_wheel = {
        n[len('ecdl_mm/.mim/'):]
        for n in names
        if n.startswith('ecdl_mm/.mim/configs/') and n.endswith('.py')
    }
    assert in_wheel == shipped
    index = load(str(mim / 'model-index.yml'))
    # every config of configs/ecdl and configs/baselines is indexed
    assert len(index.models) == sum(
        len(glob.glob(osp.join(repo_root, 'configs', d, '*.py')))
        for d in ('ecdl', 'baselines'))
    for model in index.models:
        assert (mim / model.config).is_file(), model.config


def test_editable_install_links_mim_folders(repo_root):
    """tools/install.sh installs in editable mode: ecdl_mm/.mim links to the
    repository's configs/, tools/ and model-index.yml, so what mim would run
    is what is edited."""
    import ecdl_mm
    mim = osp.join(osp.dirname(ecdl_mm.__file__), '.mim')
    for name in ('configs', 'tools', 'model-index.yml'):
        path = osp.join(mim, name)
        assert osp.islink(path), f'{path} is not a link'
        assert osp.realpath(path) == osp.realpath(osp.join(repo_root, name))

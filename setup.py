# Copyright (c) ecdl_mm contributors. All rights reserved.
import os
import os.path as osp
import shutil
import sys
from setuptools import find_packages, setup

# What OpenMMLab's mim looks for in an installed package: ecdl_mm/.mim holds
# configs/, tools/ and model-index.yml, as mmpretrain/.mim does, so that
# `mim search ecdl_mm`, `mim train ecdl_mm CONFIG` and `mim test ...` work.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def get_version():
    ns = {}
    with open('ecdl_mm/version.py') as f:
        exec(f.read(), ns)
    return ns['__version__']


def parse_requirements(path):
    """Requirement lines of ``path``; exact pins are refused.

    install_requires must be ranges so that installing ecdl_mm into an
    environment that already satisfies them replaces nothing; the tested
    pins live in ``requirements/lock.txt`` (a pip constraints file).
    """
    reqs = []
    with open(path) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if not line:
                continue
            if '==' in line.split(';')[0]:  # a marker may compare
                raise ValueError(f'{path}: {line!r} is an exact pin; declare '
                                 'a range and pin in requirements/lock.txt')
            reqs.append(line)
    return reqs


def add_mim_extension():
    """Place configs/, tools/ and model-index.yml under ecdl_mm/.mim.

    Editable installs (``pip install -e .``) link them to the repository's
    own folders, so an edited config is what mim runs; wheels and sdists
    (``pip install .``) get copies. Other setup commands (metadata only)
    leave the tree alone.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'install', 'build', 'build_py'} & set(
            sys.argv):
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim = osp.join(repo, 'ecdl_mm', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(repo, name), osp.join(mim, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim), dst)
        elif osp.isdir(src):
            shutil.copytree(
                src,
                dst,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


add_mim_extension()
setup(
    name='ecdl_mm',
    version=get_version(),
    description='EC-DL: lesion classification for EC-NBI endocytoscopy, '
    'as an mmpretrain 1.x plugin',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(
        exclude=('configs', 'tools', 'tests', 'benchmarks')),
    # torch 2.13 needs 3.10; the suite runs on 3.11.
    python_requires='>=3.10',
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={
        'mmcv-lite': parse_requirements('requirements/mminstall.txt'),
        'tests': parse_requirements('requirements/tests.txt'),
        'reader-app': parse_requirements('requirements/reader_app.txt'),
        'docs': parse_requirements('requirements/docs.txt'),
        # LoadRandomResizedCrop's region decoder (see the file)
        'turbojpeg': parse_requirements('requirements/turbojpeg.txt'),
    },
    # ecdl_mm/.mim (add_mim_extension) travels in wheels and sdists.
    include_package_data=True,
    license='Apache License 2.0',
    zip_safe=False,
)

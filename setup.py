from setuptools import find_packages, setup


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
            if '==' in line:
                raise ValueError(f'{path}: {line!r} is an exact pin; declare '
                                 'a range and pin in requirements/lock.txt')
            reqs.append(line)
    return reqs


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
    },
    license='Apache License 2.0',
    zip_safe=False,
)

from setuptools import find_packages, setup


def get_version():
    ns = {}
    with open('ecdl_mm/version.py') as f:
        exec(f.read(), ns)
    return ns['__version__']


def parse_requirements(path):
    with open(path) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip()
        ]


setup(
    name='ecdl_mm',
    version=get_version(),
    description='EC-DL: lesion classification for EC-NBI endocytoscopy, '
    'as an mmpretrain 1.x plugin',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'benchmarks')),
    python_requires='>=3.8',
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={'tests': parse_requirements('requirements/tests.txt')},
    license='Apache License 2.0',
    zip_safe=False,
)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The documentation site (issue 27): ``tools/build_docs.sh`` builds with
warnings as errors; the pages exist; the API reference documents the public
components from their docstrings; the config reference lists every config
with what it inherits; the pages the command tests will read hold the same
blocks as the README; the design page has the sections tests cite."""
import glob
import html
import os
import os.path as osp
import pathlib
import re
import sys

import pytest
from helpers.doc_blocks import GET_STARTED, README, bash_blocks, doc_block

from ecdl_mm.version import __version__

PAGES = [
    'index', 'get_started', 'config_reference', 'recipes', 'api', 'benchmarks',
    'design'
] + [
    f'user_guides/{name}'
    for name in ('data', 'lesion_metadata', 'own_cohort', 'pipeline',
                 'evaluation', 'operating_points', 'subgroups', 'live_cad',
                 'gpu_inference', 'clinical_studies', 'few_shot', 'deployment',
                 'multi_gpu', 'logs')
]


@pytest.fixture(scope='module')
def site(tmp_path_factory, run_tool):
    """``(html_dir, build_process)``: a fresh build into tmp, or, when
    ``$ECDL_DOCS_HTML`` names one, the site ``tools/build_docs.sh`` has just
    built there (``.ci/run`` builds it once; process ``None``)."""
    prebuilt = os.environ.get('ECDL_DOCS_HTML')
    if prebuilt:
        out = pathlib.Path(prebuilt).resolve()
        assert (out / 'index.html').is_file(), (
            f'ECDL_DOCS_HTML={prebuilt}: no index.html; run '
            f'bash tools/build_docs.sh {prebuilt}')
        return out, None
    out = tmp_path_factory.mktemp('docs') / 'html'
    proc = run_tool(['bash', 'tools/build_docs.sh',
                     str(out)],
                    check=False,
                    timeout=300,
                    env={'PYTHON': sys.executable})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


def text_of(path):
    """The visible text of an HTML page, whitespace collapsed."""
    page = re.sub(
        r'<script.*?</script>|<[^>]+>',
        ' ',
        path.read_text(encoding='utf-8'),
        flags=re.S)
    return re.sub(r'\s+', ' ', html.unescape(page))


def test_build_writes_every_page(site):
    out, proc = site
    if proc is not None:  # the build says where it wrote
        assert proc.stdout.strip().endswith(f'docs built: {out}/index.html')
    for page in PAGES:
        assert (out / f'{page}.html').is_file(), page
    # every page is reachable from the index (no orphan, no missing page)
    index = (out / 'index.html').read_text(encoding='utf-8')
    for page in PAGES[1:]:
        assert f'href="{page}.html"' in index, page
    assert __version__ in index


def test_api_reference_documents_public_components(site):
    out, _ = site
    page = (out / 'api.html').read_text(encoding='utf-8')
    documented = set(
        re.findall(r'<dt class="sig sig-object py" id="([^"]+)"', page))
    for name in ('ECViT', 'ECMAE', 'SupervisedClusteringHead', 'LesionMetric',
                 'ECNBIDataset', 'ClassCenterHook', 'LesionInferencer',
                 'OperatingPoint', 'load_backend', 'safe_load',
                 'StreamInferencer', 'ReadStore', 'run_fewshot_curve'):
        assert any(d.split('.')[-1] == name for d in documented), name
    # from the docstrings, not only the names: ECViT's Args are rendered
    ecvit = text_of(out / 'api.html')
    assert 'The vision transformer of EC-DL.' in ecvit
    assert re.search(r'id="ecdl_mm[\w.]*\.ECViT\.forward"', page)


def test_config_reference_lists_every_config(site, repo_root):
    out, _ = site
    text = text_of(out / 'config_reference.html')
    configs = glob.glob(osp.join(repo_root, 'configs', '*', '*.py'))
    configs = [c for c in configs if '/_base_/' not in c]
    bases = glob.glob(
        osp.join(repo_root, 'configs', '_base_', '**', '*.py'), recursive=True)
    assert len(configs) > 30 and len(bases) > 10
    for path in configs:
        assert osp.basename(path) in text, path
    for path in bases:  # listed by their path under configs/_base_/
        name = osp.relpath(path, osp.join(repo_root, 'configs', '_base_'))
        assert f' {name} ' in text, path
    # one row read independently: its stage, its bases as written, a value
    row = text.split('ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py',
                     1)[1][:2500]
    assert '3: supervised deep clustering, demo' in row
    for base in ('../_base_/models/ecvit-base-p16.py',
                 '../_base_/datasets/ecnbi_lesion_64.py',
                 '../_base_/default_runtime.py'):
        assert base in row, base
    assert 'max_epochs: 30' in row
    assert 'test data: ECNBIDataset' in row and 'demo_test' in row


@pytest.mark.parametrize('page,heading', [
    ('get_started.md', '## The main job'),
    ('get_started.md', '### The live demo'),
])
def test_pages_hold_the_readme_command_blocks(repo_root, page, heading):
    """The blocks tests/test_tools/test_readme_commands.py runs are found in
    the pages by the same headings, and equal the README's while both have
    them (re-copy a README edit into the page)."""
    path = osp.join(repo_root, 'docs', page)
    assert doc_block(path, heading) == doc_block(
        README, heading), (f'{page} and README.md differ under {heading!r}')


def test_block_finder():
    text = '\n'.join([
        'intro', '```bash', 'echo 0', '```', '## A', '```bash', 'echo 1',
        '```', '**B** text', '```python', 'x = 1', '```', '```bash', 'echo 2',
        'echo 3', '```'
    ])
    assert bash_blocks(text) == [(None, 'echo 0'), ('## A', 'echo 1'),
                                 ('**B** text', 'echo 2\necho 3')]
    assert doc_block(GET_STARTED,
                     '## Set-up').startswith('bash tools/install.sh')


def test_design_sections_cited_by_tests_exist(repo_root):
    with open(osp.join(repo_root, 'docs', 'design.md'), encoding='utf-8') as f:
        headings = {
            line.lstrip('#').strip()
            for line in f if line.startswith('#')
        }
    cited = {}
    for path in glob.glob(
            osp.join(repo_root, 'tests', '**', '*.py'), recursive=True):
        with open(path, encoding='utf-8') as f:
            for section in re.findall(r'docs/design\.md,\s*(?:#\s*)?"([^"]+)"',
                                      f.read()):
                cited.setdefault(section, []).append(path)
    assert len(cited) >= 2  # the clustering and recipe tests cite it
    for section, paths in cited.items():
        assert section in headings, (section, paths)

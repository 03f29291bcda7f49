# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The shell blocks of the README and of the documentation pages, found by
the heading above them, for tests that run documented commands as written.

``doc_block(path, heading)`` reads any markdown file: ``README`` today, the
getting-started page (``GET_STARTED``) and the user guides under ``DOCS``
once the README is cut to a front door (issue 27): the Grad-CAM block is in
``user_guides/pipeline.md``, the worked example in
``user_guides/clinical_studies.md``.
"""
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
README = osp.join(REPO_ROOT, 'README.md')
DOCS = osp.join(REPO_ROOT, 'docs')
GET_STARTED = osp.join(DOCS, 'get_started.md')


def bash_blocks(text):
    """``(heading, block)`` of every ```bash block: the last ``#`` heading
    or ``**bold**`` paragraph start above it (``None`` before any)."""
    blocks, heading = [], None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith('#') or line.startswith('**'):
            heading = line
        if line.strip() == '```bash':
            j = i + 1
            while j < len(lines) and lines[j].strip() != '```':
                j += 1
            assert j < len(lines), f'unclosed ```bash block at line {i + 1}'
            blocks.append((heading, '\n'.join(lines[i + 1:j])))
            i = j
        i += 1
    return blocks


def doc_block(path, starts_with):
    """The first ```bash block of the markdown file ``path`` under the
    heading that starts with ``starts_with``."""
    with open(path, encoding='utf-8') as f:
        found = [
            b for h, b in bash_blocks(f.read())
            if h and h.startswith(starts_with)
        ]
    assert found, f'no block under {starts_with!r} in {path}'
    return found[0]

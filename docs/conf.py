# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Sphinx configuration of the ecdl_mm documentation site.

Build it with ``bash tools/build_docs.sh`` (warnings are errors). Pages are
MyST markdown; the API reference is autodoc over the installed package and
the config reference is generated from ``configs/`` at build time by
``docs/_ext/config_reference.py``.
"""
import os
import os.path as osp
import sys

DOCS = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(DOCS)
# the checkout's package first (an installed copy would document other code)
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(DOCS, '_ext'))
os.environ.setdefault('OMP_NUM_THREADS', '1')

import ecdl_mm  # noqa: E402

project = 'ecdl_mm'
copyright = 'ecdl_mm contributors'
author = 'ecdl_mm contributors'
version = release = ecdl_mm.__version__

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
    'config_reference',
]

source_suffix = {'.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build', 'Thumbs.db', '.DS_Store']

myst_enable_extensions = ['colon_fence', 'dollarmath']
myst_heading_anchors = 3

# autodoc: the signatures as written, members in source order, the class
# docstring and the __init__ arguments together (Google style, as mmpretrain)
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autoclass_content = 'class'
autodoc_default_options = {'members': True, 'show-inheritance': True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = 'alabaster'
html_title = f'ecdl_mm {release}'
html_theme_options = {
    'description': 'EC-DL as an mmpretrain 1.x plugin',
    'fixed_sidebar': True,
    'page_width': '1180px',
    'sidebar_width': '250px',
}
html_static_path = ['_static']
html_css_files = ['custom.css']

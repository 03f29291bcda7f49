# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Where the demo data lies by default: ``$ECDL_DEMO_ROOT``, else
``../shared/datasets/ecdl-demo`` beside the checkout (the layout of a
development clone; it is not part of the repository)."""
import os
import os.path as osp
from typing import Optional

#: The environment variable that points at the demo data.
DEMO_ROOT_ENV = 'ECDL_DEMO_ROOT'
#: The checkout this package lies in (``ecdl_mm/utils/`` -> its root).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def default_demo_root(repo_root: Optional[str] = None) -> str:
    """``$ECDL_DEMO_ROOT``, else ``<repo_root>/../shared/datasets/ecdl-demo``
    (``repo_root``: this package's checkout by default)."""
    return os.environ.get(
        DEMO_ROOT_ENV,
        osp.join(
            osp.dirname(repo_root or REPO_ROOT), 'shared', 'datasets',
            'ecdl-demo'))

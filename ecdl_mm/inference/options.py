# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The command-line options every inference tool shares (``tools/infer.py``,
``tools/realtime.py``): ``--backend``, ``--precision``, ``--preprocess``."""
from ..deploy import BACKENDS, PRECISIONS
from .preprocess import PREPROCESS_MODES


def add_backend_options(parser,
                        preprocess: bool = True,
                        backend_help: str = None) -> None:
    """Add ``--backend``, ``--precision`` and (with ``preprocess``)
    ``--preprocess`` to an ``argparse`` parser (the values
    :func:`ecdl_mm.deploy.load_backend` and the inferencers take; GPU-only
    choices fail on a CPU in one line). ``backend_help`` replaces the help
    of ``--backend``."""
    parser.add_argument(
        '--backend',
        default='eager',
        choices=BACKENDS,
        help=backend_help or 'model backend (default eager; cuda-graph: CUDA '
        'graphs, fp16 by default, GPU only)')
    parser.add_argument(
        '--precision',
        choices=PRECISIONS,
        default=None,
        help='fp32, or fp16/bf16 on a GPU (default: fp16 with cuda-graph, '
        'else fp32); checked against fp32 at load time')
    if not preprocess:
        return
    parser.add_argument(
        '--preprocess',
        choices=PREPROCESS_MODES,
        default='auto',
        help='crop/resize/normalise: auto (on the GPU when running on one), '
        'pipeline (the CPU test pipeline) or device')

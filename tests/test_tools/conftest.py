# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Fixtures of the tool tests: the README's demo pipeline, run once per
test run as the README runs it (20 / 30 epochs, 2 threads) and shared by the
tests that read its outputs, so the README's figures are checked against
the same run (issue 28)."""
import types

import pytest
from helpers.shared_run import once_per_run

#: Threads of the README's runs (tools/run_pipeline.sh's default); float
#: sums, and so the demo's figures, depend on it.
README_THREADS = '2'
#: Seconds the README's runs may take: 43 s on 2 idle cores, 18 min when
#: they are shared by several suites (4 Dec 2026).
PIPELINE_TIMEOUT = 1800


@pytest.fixture(scope='session')
def demo_pipeline(run_tool, demo_root, tmp_path_factory):
    """``(out_dir, proc)`` of ``bash tools/run_pipeline.sh OUT`` with the
    README's epochs and threads, once per run, also under pytest-xdist
    (:func:`helpers.shared_run.once_per_run`)."""

    def make(root):
        proc = run_tool(
            ['bash', 'tools/run_pipeline.sh',
             str(root / 'pipeline')],
            env={
                'OMP_NUM_THREADS': README_THREADS,
                'MKL_NUM_THREADS': README_THREADS,
                'ECDL_DEMO_ROOT': demo_root
            },
            timeout=PIPELINE_TIMEOUT)
        return dict(
            returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)

    root, proc = once_per_run(tmp_path_factory, 'demo-pipeline', make)
    return root / 'pipeline', types.SimpleNamespace(**proc)

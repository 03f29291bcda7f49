# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Fixtures of the tool tests: the README's demo pipeline, run once per
session (few epochs) and shared by the tests that read its outputs."""
import types

import pytest
from helpers.shared_run import once_per_run

#: Epochs of the shared short pipeline run (the README's 20 / 30).
PIPELINE_EPOCHS = 2


@pytest.fixture(scope='session')
def demo_pipeline(run_tool, demo_root, tmp_path_factory):
    """``(out_dir, proc)`` of ``bash tools/run_pipeline.sh OUT`` with
    ``MAE_EPOCHS`` = ``FT_EPOCHS`` = :data:`PIPELINE_EPOCHS`."""

    def make(root):
        proc = run_tool(
            ['bash', 'tools/run_pipeline.sh',
             str(root / 'pipeline')],
            env={
                'MAE_EPOCHS': str(PIPELINE_EPOCHS),
                'FT_EPOCHS': str(PIPELINE_EPOCHS),
                'ECDL_DEMO_ROOT': demo_root
            })
        return dict(
            returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)

    # Once per run, also under pytest-xdist (helpers.shared_run).
    root, proc = once_per_run(tmp_path_factory, 'demo-pipeline', make)
    return root / 'pipeline', types.SimpleNamespace(**proc)

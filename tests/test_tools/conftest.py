# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Fixtures of the tool tests: the README's demo pipeline, run once per
session (few epochs) and shared by the tests that read its outputs."""
import pytest

#: Epochs of the shared short pipeline run (the README's 20 / 30).
PIPELINE_EPOCHS = 2


@pytest.fixture(scope='session')
def demo_pipeline(run_tool, demo_root, tmp_path_factory):
    """``(out_dir, proc)`` of ``bash tools/run_pipeline.sh OUT`` with
    ``MAE_EPOCHS`` = ``FT_EPOCHS`` = :data:`PIPELINE_EPOCHS`."""
    out = tmp_path_factory.mktemp('demo') / 'pipeline'
    proc = run_tool(
        ['bash', 'tools/run_pipeline.sh',
         str(out)],
        env={
            'MAE_EPOCHS': str(PIPELINE_EPOCHS),
            'FT_EPOCHS': str(PIPELINE_EPOCHS),
            'ECDL_DEMO_ROOT': demo_root
        })
    return out, proc

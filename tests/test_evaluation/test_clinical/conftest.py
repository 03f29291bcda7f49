# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Fixtures of the clinical tests (helpers: ``tests/helpers/clinical.py``)."""
import numpy as np
import pytest
from helpers.clinical import synthetic_scores, write_lesion_csv


@pytest.fixture
def three_models(tmp_path):
    """Models A (good), B (weaker), C (weak) on the same 60 lesions; C's
    file lists them in another order."""
    rng = np.random.default_rng(11)
    ids = [f'L{i:03d}' for i in range(60)]
    target = np.arange(60) % 3
    files = []
    for name, strength in (('A', 2.5), ('B', 1.2), ('C', 0.4)):
        scores = synthetic_scores(target, strength, rng)
        order = np.arange(60)[::-1] if name == 'C' else np.arange(60)
        files.append(
            write_lesion_csv(tmp_path / f'{name}.csv', [ids[i] for i in order],
                             target[order], scores[order]))
    return files

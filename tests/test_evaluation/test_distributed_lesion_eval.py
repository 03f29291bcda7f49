# Copyright (c) ecdl_mm contributors. All rights reserved.
"""LesionMetric under 2-process evaluation (gloo on CPU) gives the metrics of a
single-process run: results are collected across ranks, the sampler's padding
is dropped and lesions split across ranks are regrouped."""
import json

import pytest
from helpers import TINY_CONFIG, save_tiny_checkpoint

CFG = TINY_CONFIG  # the demo ResNet, 64 px


def test_two_process_test_equals_single_process(run_tool, run_script,
                                                repo_root, demo_root, tmp_path,
                                                free_port):
    data = [
        f'{split}_dataloader.dataset.data_root={demo_root}'
        for split in ('train', 'test')  # the demo has no validation
    ]
    # batch 3 on 2 ranks: 20 test images are padded to 24 by the sampler
    data += ['test_dataloader.batch_size=3']
    # the demo model with random weights (the metrics need not be good,
    # only the same); the single-process test in this process, the
    # two-process test launched as a user launches it
    ckpt = str(tmp_path / 'tiny.pth')
    save_tiny_checkpoint(repo_root, ckpt)

    single = tmp_path / 'single.json'
    run_script([
        'tools/test.py', CFG, ckpt, '--work-dir',
        str(tmp_path / 's'), '--out',
        str(single), '--out-item', 'metrics', '--cfg-options',
        'test_evaluator.0.out_dir=None', *data
    ])
    double = tmp_path / 'double.json'
    proc = run_tool([
        'bash', 'tools/dist_test.sh', CFG, ckpt, '2', '--work-dir',
        str(tmp_path / 'd'), '--out',
        str(double), '--out-item', 'metrics', '--cfg-options',
        'test_evaluator.0.out_dir=None', *data
    ],
                    env={'PORT': free_port})
    assert '2 process(es), distributed (pytorch, gloo)' in proc.stdout

    ref, got = json.loads(single.read_text()), json.loads(double.read_text())
    assert ref['lesion/num_lesions'] == got['lesion/num_lesions'] == 20
    assert ref['image/num_images'] == got['image/num_images'] == 20
    assert ref.keys() == got.keys()
    for key, value in ref.items():
        if isinstance(value, float):
            # an undefined rate (empty denominator) is NaN in both
            assert got[key] == pytest.approx(value, abs=1e-6, nan_ok=True), key
        else:
            assert got[key] == value, key

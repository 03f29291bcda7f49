# Copyright (c) ecdl_mm contributors. All rights reserved.
"""benchmarks/gpu_probe.py on the CPU: the decode and augment sections run
on the demo files and write their figures."""
import json


def test_cpu_decode_and_augment_sections(run_script, tmp_path):
    run_script([
        'benchmarks/gpu_probe.py', '--device', 'cpu', '--only', 'decode',
        'augment', '--batch', '8', '--out',
        str(tmp_path)
    ])
    doc = json.loads((tmp_path / 'gpu_probe.json').read_text())
    assert 'errors' not in doc
    assert doc['decode']['demo jpegs']['images'] == 40
    aug = doc['augment']['stage-3 gpu-augment preprocessor']
    assert aug['batch'] == 8
    for key in ('preprocessor_ms', 'augments_alone_ms',
                'augments_alone_ms_per_image', 'mmcv_cpu_ms_per_image'):
        assert isinstance(aug[key], float) and aug[key] > 0, key
    assert 'gpu_vs_cpu_max_abs' not in aug  # a GPU-only comparison

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""``tools/deploy/export.py``: the command line over :mod:`ecdl_mm.deploy`."""
import json

import torch
from helpers.deploy_models import tiny_deploy_cfg

from ecdl_mm.deploy import build_model, onnxruntime_available

CLASSES = ['adenomas', 'invasive_cancer', 'non-neoplastic']


def test_cli_export_and_eval_on_demo(run_script, demo_root, tmp_path):
    torch.manual_seed(0)
    model, cfg = build_model(tiny_deploy_cfg(demo_root), None)
    ckpt = tmp_path / 'tiny.pth'
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=CLASSES))), str(ckpt))
    cfg_path = tmp_path / 'tiny_cfg.py'
    cfg.dump(str(cfg_path))
    out = tmp_path / 'deploy'
    proc = run_script([
        'tools/deploy/export.py',
        str(cfg_path),
        str(ckpt), '--out-dir',
        str(out), '--eval', '--threads', '1', '--rounds', '1'
    ])
    # deploy.json names the checkpoint's classes (it held [] before)
    meta = json.loads((out / 'deploy.json').read_text())
    assert meta['classes'] == CLASSES
    assert 'classes: adenomas, invasive_cancer, non-neoplastic' in \
        proc.stdout
    report = json.loads((out / 'eval.json').read_text())
    assert report['images'] == 20 and report['lesions'] == 20
    # provenance on both files (issue 27): the config and checkpoint hashes
    from ecdl_mm.utils.provenance import file_sha256
    for doc in (meta, report):
        prov = doc['provenance']
        assert prov['config']['sha256'] == file_sha256(str(cfg_path))
        assert file_sha256(str(ckpt)).startswith(
            prov['checkpoint']['sha256_prefix'])
    timed = {
        'fp32_eager', 'torchscript_fp32', 'torchscript_int8', 'int8_eager'
    }
    if onnxruntime_available():
        timed.add('onnx_fp32')
        assert report['variants']['onnx_fp32']['max_abs_prob_diff'] < 1e-4
    else:
        assert 'onnx_fp32 not timed: onnxruntime is not installed' in \
            proc.stdout
    assert set(report['variants']) == timed
    assert report['variants']['torchscript_fp32']['image_agreement'] == 1.0
    assert report['variants']['torchscript_fp32']['max_abs_prob_diff'] < 1e-4
    # the labels say what the figures measure
    assert 'max |prob - eager fp32 prob| on the check batch:' in proc.stdout
    assert 'agreement = share of images / lesions with the same ' \
        'predicted class as fp32_eager' in proc.stdout

# Copyright (c) ecdl_mm contributors. All rights reserved.
import json
import os.path as osp

import pandas as pd
from helpers import TINY_CONFIG as CONFIG
from helpers import save_tiny_checkpoint


def test_test_tool_prints_both_levels_and_writes_outputs(
        run_script, repo_root, demo_root, tmp_path):
    """tools/test.py on demo_test: the image/lesion table, CSVs and plots."""
    ckpt = str(tmp_path / 'tiny.pth')
    save_tiny_checkpoint(repo_root, ckpt)
    out_dir = str(tmp_path / 'lesion_eval')
    proc = run_script([
        'tools/test.py', CONFIG, ckpt, '--work-dir',
        str(tmp_path / 'wd'), '--cfg-options',
        f'test_dataloader.dataset.data_root={demo_root}',
        f'test_evaluator.0.out_dir={out_dir}',
        'test_evaluator.0.bootstrap_rounds=50', '--report'
    ])
    log = proc.stdout + proc.stderr
    # LesionMetric's table; its ~160 values are summarised in the epoch line
    # (all in the JSON log), not dumped
    assert 'metric' in log and 'lesion confusion matrix' in log
    assert 'lesion/*: ' in log and 'lesion/accuracy:' not in log
    assert 'accuracy/top1:' in log  # mmpretrain's Accuracy beside ours
    assert 'lesion confusion matrix' in log
    for name in ('image_predictions.csv', 'lesion_predictions.csv',
                 'metrics.json', 'confusion_matrix_image.png',
                 'confusion_matrix_lesion.png', 'roc_image.png',
                 'roc_lesion.png'):
        assert osp.getsize(osp.join(out_dir, name)) > 0, name
    lesions = pd.read_csv(
        osp.join(out_dir, 'lesion_predictions.csv'), dtype={'lesion_id': str})
    ref = pd.read_excel(
        osp.join(demo_root, 'dataset_divide.xlsx'), sheet_name='demo_test')
    cohort = osp.basename(osp.normpath(demo_root))
    assert list(lesions['lesion_id']) == [
        f'{cohort}/{x}' for x in ref['lesion_index']
    ]
    assert list(lesions['gt_label']) == list(ref['class_index'])
    metrics = json.load(open(osp.join(out_dir, 'metrics.json')))['metrics']
    assert metrics['lesion/accuracy'] == (
        lesions['pred_label'] == lesions['gt_label']).mean()
    assert metrics['lesion/num_lesions'] == 20
    # --report: the self-contained HTML report beside the files it reads
    report = open(osp.join(out_dir, 'report.html'), encoding='utf-8').read()
    assert 'lesion report: ' + osp.join(out_dir, 'report.html') in log
    assert '<script' not in report
    assert 'src="http' not in report and 'href="http' not in report
    # the accuracy cell, keyed to metrics.json (quotes HTML-escaped)
    key = '[&quot;metrics&quot;, &quot;lesion/accuracy&quot;]'
    assert (f'data-value="{metrics["lesion/accuracy"]!r}" '
            f"data-key='{key}'") in report
    assert report.count('data:image/jpeg;base64,') == min(
        12, (lesions['pred_label'] != lesions['gt_label']).sum())

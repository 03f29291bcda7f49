# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The README's main job, tools/run_pipeline.sh, end to end as the README
runs it: ECMAE on demo_train -> clustering fine-tune from its encoder ->
lesion-level test on demo_test -> CSVs, metrics, plots."""
import json
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import norm
from sklearn.metrics import accuracy_score, roc_auc_score


def _wilson(k, n, level=0.95):
    """Wilson score interval of ``k`` successes in ``n`` (Wilson 1927)."""
    z = norm.ppf(1 - (1 - level) / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_pipeline_runs_every_stage(demo_pipeline, demo_root):
    # run once per session (tests/test_tools/conftest.py), the README's run
    out, proc = demo_pipeline
    log = proc.stdout + proc.stderr
    for step in ('0/5', '1/5', '2/5', '3/5', '4/5', '5/5'):
        assert f'] {step}' in log
    # the fine-tune really started from the ECMAE encoder of stage 1
    assert f'load backbone. in model from: {out}/ecmae/epoch_20.pth' in log
    assert 'loss_center' in log
    # no validation sheet in the demo: no validation, nothing selected on
    # demo_test, and the test runs on the last epoch's checkpoint
    assert 'Epoch(val)' not in log
    assert 'best' not in ' '.join(p.name for p in out.rglob('*.pth'))

    lesions = pd.read_csv(
        out / 'lesion_eval' / 'lesion_predictions.csv',
        dtype={'lesion_id': str})
    assert len(lesions) == 20  # the demo_test lesions, none from demo_train
    cohort = os.path.basename(os.path.realpath(demo_root))
    test_ids = set(f'{cohort}/{x}'
                   for x in pd.read_excel(
                       f'{demo_root}/dataset_divide.xlsx',
                       sheet_name='demo_test')['lesion_index'].astype(str))
    assert set(lesions['lesion_id']) == test_ids
    probs = lesions[[c for c in lesions if c.startswith('prob_')]]
    assert ((probs.sum(axis=1) - 1).abs() < 1e-5).all()

    metrics = json.loads(
        (out / 'lesion_eval' / 'metrics.json').read_text())['metrics']
    assert metrics['lesion/num_lesions'] == 20
    # Recomputed independently: labels from the split sheet, lesion scores
    # as the mean of the per-image probabilities, scored by scikit-learn.
    sheet = pd.read_excel(
        f'{demo_root}/dataset_divide.xlsx', sheet_name='demo_test')
    truth = dict(
        zip(f'{cohort}/' + sheet['lesion_index'].astype(str),
            sheet['class_index']))
    images = pd.read_csv(
        out / 'lesion_eval' / 'image_predictions.csv',
        dtype={'lesion_id': str})
    assert len(images) == 20
    prob_cols = [c for c in images if c.startswith('prob_')]
    per_lesion = images.groupby('lesion_id')[prob_cols].mean()
    y_true = [truth[i] for i in per_lesion.index]
    y_pred = per_lesion.to_numpy().argmax(1)
    assert metrics['lesion/accuracy'] == pytest.approx(
        accuracy_score(y_true, y_pred), abs=1e-9)
    assert metrics['lesion/auc_macro'] == pytest.approx(
        roc_auc_score(
            y_true, per_lesion.to_numpy(), multi_class='ovr', average='macro'),
        abs=1e-9)
    by_id = lesions.set_index('lesion_id').loc[per_lesion.index]
    assert list(by_id['pred_label']) == list(y_pred)
    assert list(by_id['gt_label']) == y_true
    # its 95 % Wilson score interval, by the textbook formula
    assert (metrics['lesion/accuracy_ci_lower'],
            metrics['lesion/accuracy_ci_upper']) == pytest.approx(
                _wilson(int((y_pred == np.asarray(y_true)).sum()), 20),
                abs=1e-9)
    for png in ('confusion_matrix_lesion.png', 'roc_lesion.png'):
        with Image.open(out / 'lesion_eval' / png) as im:
            assert min(im.size) > 100
    with Image.open(out / 'features_pca.png') as im:
        assert min(im.size) > 100
    assert 'lesion accuracy:' in proc.stdout

    # honest demo: the operating point is fitted on a validation split
    # carved out of demo_train (lesion-grouped), disjoint from the lesions
    # trained on and from the lesions reported
    train = pd.read_excel(out / 'splits.xlsx', sheet_name='train')
    val = pd.read_excel(out / 'splits.xlsx', sheet_name='val')
    demo_train = pd.read_excel(
        f'{demo_root}/dataset_divide.xlsx', sheet_name='demo_train')
    assert (len(train), len(val)) == (15, 5)
    assert set(train.lesion_index) | set(val.lesion_index) == set(
        demo_train.lesion_index)
    assert not set(train.lesion_index) & set(val.lesion_index)
    assert not set(val.lesion_index) & set(sheet.lesion_index)
    op = json.loads((out / 'operating_point.json').read_text())
    assert op['validation']['num_lesions'] == 5
    doc = json.loads((out / 'lesion_eval' / 'metrics.json').read_text())
    assert doc['operating_point']['min_confidence'] == op['min_confidence']
    accepted = (lesions.confidence >= op['min_confidence']).sum()
    # the fit prints the validation coverage (k/5), the summary the test's
    lines = [
        x for x in proc.stdout.splitlines()
        if x.strip().startswith('coverage ')
    ]
    assert lines[0].rstrip().endswith('/5'), lines
    assert lines[-1].rstrip().endswith(f' {accepted}/20'), lines
    assert doc['counts']['selective/coverage'] == dict(
        k=int(accepted), n=20, interval='wilson')
    assert (doc['metrics']['selective/coverage_ci_lower'],
            doc['metrics']['selective/coverage_ci_upper']) == pytest.approx(
                _wilson(int(accepted), 20), abs=1e-9)
    assert '20 test lesions (5 validation lesions) decide nothing' in \
        proc.stdout
    html = (out / 'lesion_eval' / 'report.html').read_text()
    assert 'Clinical decision table' in html and 'Calibration' in html


def test_pipeline_log_is_readable(demo_pipeline):
    """Issue 28: the demo printed 1,900 lines (at 20/30 epochs): ~240 lines
    of weight init per model build, the leakage warning in every stage, a
    multi-line state-dict message, `GPU number: 1` on a CPU machine, three
    config dumps. The log files keep everything."""
    import torch
    out, proc = demo_pipeline
    lines = proc.stdout.splitlines()
    assert len(lines) < 250, len(lines)
    assert max(len(line) for line in lines) <= 400
    # weight init outside a Runner: one line per top-level module
    assert 'torch.Size([' not in proc.stdout
    init = [
        line.split(' - INFO - init ', 1)[1] for line in lines
        if ' - INFO - init ' in line
    ]
    assert [i.split(' ')[0] for i in init] == ['backbone', 'head'], init
    assert init[0].startswith(
        f'backbone (56 tensors): PretrainedInit: load from '
        f'{out}/ecmae/epoch_20.pth (54); ')  # the README's 20 epochs
    # each warning once per run (six stages)
    assert proc.stdout.count('patients were NOT checked for leakage') == 1
    # the MAE encoder's ln1 / the classifier's ln2, explained in one line
    assert 'unexpected key in source state_dict' not in proc.stdout
    [known] = [line for line in lines if 'known state-dict difference' in line]
    assert "ln2 (the norm of the average-pooled feature, out_type=" \
        "'avg_featmap') starts fresh" in known
    if not torch.cuda.is_available():
        assert 'GPU number' not in proc.stdout
        assert 'CPU only (CUDA not available); 1 process(es)' in proc.stdout
    # the config and the environment in one line each; in full in the log
    [config] = [
        line for line in lines
        if ' - INFO - Config: ' in line and f'{out}/finetune/' in line
    ]
    log_file = config.rsplit(' and written to ', 1)[1]
    with open(log_file) as f:
        full = f.read()
    for text in ('train_dataloader = dict(', 'PyTorch compiling details',
                 'Hooks will be executed in the following order',
                 'paramwise_options --'):
        assert text not in proc.stdout
        if text != 'paramwise_options --':  # the fine-tune has none
            assert text in full, text
    assert 'paramwise_options: weight_decay=0.0 for ' in proc.stdout


def test_missing_demo_data_is_one_line(run_tool, tmp_path):
    # issue 28: ECDL_DEMO_ROOT=/nonexistent ended in a bare `cd:` error
    out = tmp_path / 'out'
    proc = run_tool(['bash', 'tools/run_pipeline.sh',
                     str(out)],
                    check=False,
                    env={'ECDL_DEMO_ROOT': '/nonexistent'})
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "run_pipeline.sh: error: no demo data at '/nonexistent' (no "
        'dataset_divide.xlsx there): set ECDL_DEMO_ROOT to the ecdl-demo '
        'folder'
    ]
    assert proc.stdout == '' and not out.exists()

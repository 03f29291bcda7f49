# Copyright (c) ecdl_mm contributors. All rights reserved.
"""tools/analysis/fewshot_curve.py (run_fewshot_curve): the runs use k
lesions per class and test on the rest of the cohort; the summary is the
mean and Student-t interval over seeds; finished runs are skipped."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from scipy import stats

from ecdl_mm.experiments import run_fewshot_curve
from ecdl_mm.experiments.few_shot_curve import summarise, t_interval

CFG = 'configs/fewshot/ecvit-mini-p8_fewshot-{}_ecnbi-demo-64px.py'


def test_t_interval_is_scipys():
    v = [0.61, 0.7, 0.55, 0.8]
    mean, lo, hi = t_interval(v)
    ref = stats.t.interval(
        0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert mean == pytest.approx(np.mean(v))
    assert (lo, hi) == pytest.approx(ref)
    # NaN runs (an AUC without positives) are left out
    assert t_interval(v + [float('nan')]) == pytest.approx((mean, lo, hi))
    runs = [
        dict(
            method='m',
            shots=2,
            seed=s,
            metrics={
                'lesion/auc_macro': x,
                'lesion/accuracy': 1 - x
            }) for s, x in enumerate(v)
    ]
    row = [r for r in summarise(runs) if r['metric'] == 'lesion/accuracy'][0]
    assert row['mean'] == pytest.approx(1 - np.mean(v))
    assert row['ci_upper'] - row['ci_lower'] == pytest.approx(hi - lo)


def test_curve_on_the_demo_cohort(repo_root, demo_root, tmp_path, capfd):
    configs = [osp.join(repo_root, CFG.format(m)) for m in ('linear', 'vpt')]
    logs = []
    kwargs = dict(
        shots=[1, 7],
        seeds=[0],
        cohort=dict(data_root=demo_root),
        cfg_options={
            'train_cfg.max_iters': 4,
            'test_evaluator.0.bootstrap_rounds': 20
        },
        log=logs.append)
    out = run_fewshot_curve(configs, str(tmp_path), **kwargs)
    # issue 28: LesionMetric's values were one 3,000-char line per test
    epochs = [
        line for line in capfd.readouterr().out.splitlines()
        if 'Epoch(test)' in line
    ]
    assert epochs and max(len(line) for line in epochs) < 500
    # the demo's 40 lesion folders (26 / 7 / 7): k = 7 leaves a class
    # without a query lesion
    counts = {
        c: len(os.listdir(osp.join(demo_root, c)))
        for c in ('adenomas', 'invasive_cancer', 'non-neoplastic')
    }
    assert out['lesions_per_class'] == counts
    assert min(counts.values()) == 7 and sum(counts.values()) == 40
    assert [s['shots'] for s in out['skipped']] == [7]
    assert len(out['runs']) == 2
    for run in out['runs']:
        # tested on every lesion but the 3 of the support set (no patients)
        assert run['metrics']['lesion/num_lesions'] == 37
        rows = {
            r['metric']: r
            for r in out['summary']
            if r['method'] == osp.basename(run['config'])[:-3]
        }
        assert rows['lesion/auc_macro']['mean'] == \
            run['metrics']['lesion/auc_macro']
    for ext in ('json', 'csv', 'md', 'png'):
        assert (tmp_path / f'fewshot_curve.{ext}').exists()
    saved = json.loads((tmp_path / 'fewshot_curve.json').read_text())
    assert saved['shots'] == [1]
    assert saved['provenance']['inputs']['config_0']['path'] == \
        osp.abspath(configs[0])
    md = (tmp_path / 'fewshot_curve.md').read_text()
    acc = out['runs'][0]['metrics']['lesion/accuracy']
    assert f'{acc:.3f}' in md
    # a second call reuses the finished runs
    logs.clear()
    again = run_fewshot_curve(configs, str(tmp_path), **kwargs)
    assert sum('done before, skipped' in m for m in logs) == 2
    assert again['runs'] == out['runs']

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""tools/analysis/benchmark_models.py: resumes after a real kill (finished
configs skipped, the partial one resumed, not restarted) and writes the
comparison that compare_models gives by hand."""
import json
import math
import os.path as osp

from ecdl_mm.evaluation.clinical import compare_models, load_lesion_predictions

A = 'configs/baselines/resnet-mini_1xb8-10e_ecnbi-demo-64px.py'
B_BASE = 'configs/baselines/deit-mini-p8_1xb8-10e_ecnbi-demo-64px.py'


def _same(a, b, path='results'):
    """Deep equality of JSON values (NaN equals NaN)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _same(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f'{path}[{i}]')
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), path
    else:
        assert a == b, (path, a, b)


def test_benchmark_resumes_after_kill_and_report_is_compare_models(
        run_tool, run_script, demo_root, repo_root, tmp_path):
    # B is killed (SIGKILL) right after its first epoch was checkpointed
    b_cfg = tmp_path / 'deit-mini-killed.py'
    b_cfg.write_text(
        f"_base_ = [{osp.join(repo_root, B_BASE)!r}]\n"
        "custom_imports = dict(imports=['ecdl_mm', 'kill_hook'])\n"
        "custom_hooks = [dict(type='KillAfterEpochHook', epoch=1)]\n")
    work = tmp_path / 'bench'
    cmd = [
        'tools/analysis/benchmark_models.py', '--configs', A,
        str(b_cfg), '--splits',
        osp.join(demo_root, 'dataset_divide.xlsx'), '--sheets', 'demo_train',
        'none', 'demo_test', '--work-dir',
        str(work), '--bootstrap-rounds', '200', '--cfg-options',
        'train_cfg.max_epochs=2', 'default_hooks.checkpoint.interval=1',
        'test_evaluator.0.bootstrap_rounds=50'
    ]
    a_dir = work / 'resnet-mini_1xb8-10e_ecnbi-demo-64px'
    b_dir = work / 'deit-mini-killed'
    proc = run_tool(cmd, check=False)
    assert proc.returncode == -9, proc.stderr[-3000:]
    assert (a_dir / 'done.json').exists()
    assert (b_dir / 'epoch_1.pth').exists()
    assert not (b_dir / 'epoch_2.pth').exists()
    assert not (b_dir / 'done.json').exists()
    assert not (work / 'comparison').exists()
    a_done = (a_dir / 'done.json').stat().st_mtime_ns
    a_ckpt = (a_dir / 'epoch_2.pth').stat().st_mtime_ns
    b_first = (b_dir / 'epoch_1.pth').stat().st_mtime_ns

    # the resumed run in this process (the kill hook fires after epoch 1
    # only, which B has finished)
    proc = run_script(cmd)
    assert '[resnet-mini_1xb8-10e_ecnbi-demo-64px] finished before, ' \
        'skipped' in proc.stdout
    # issue 28: LesionMetric's values were one 3,000-char line per test
    assert 'Epoch(test)' in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) < 500
    assert '[deit-mini-killed] resuming' in proc.stdout
    # A untouched; B continued from epoch 1 instead of starting over
    assert (a_dir / 'done.json').stat().st_mtime_ns == a_done
    assert (a_dir / 'epoch_2.pth').stat().st_mtime_ns == a_ckpt
    assert (b_dir / 'epoch_1.pth').stat().st_mtime_ns == b_first
    assert (b_dir / 'epoch_2.pth').exists()
    done = json.loads((b_dir / 'done.json').read_text())
    assert done['resumed'] is True
    assert done['checkpoint'] == str(b_dir / 'epoch_2.pth')

    # the report's numbers are compare_models' on the two prediction files
    out = work / 'comparison'
    for name in ('comparison.json', 'comparison.csv', 'model_metrics.csv',
                 'auc_differences.png', 'report.html'):
        assert (out / name).exists(), name
    got = json.loads((out / 'comparison.json').read_text())
    files = [
        str(a_dir / 'lesion_eval' / 'lesion_predictions.csv'),
        str(b_dir / 'lesion_eval' / 'lesion_predictions.csv')
    ]
    names = ['resnet-mini_1xb8-10e_ecnbi-demo-64px', 'deit-mini-killed']
    # where the compared predictions came from: each arm's test output
    prov = got.pop('provenance')
    assert {
        n: v['path']
        for n, v in prov['inputs'].items()
    } == {
        n: osp.abspath(f)
        for n, f in zip(names, files)
    }
    by_hand = compare_models([load_lesion_predictions(f) for f in files],
                             names,
                             bootstrap_rounds=200,
                             seed=0)
    _same(json.loads(json.dumps(by_hand)), got)
    assert got['num_lesions'] == 20
    # and the same as tools/analysis/compare_models.py on those files
    run_script([
        'tools/analysis/compare_models.py', *files, '--names', *names,
        '--out-dir',
        str(tmp_path / 'by_hand'), '--bootstrap-rounds', '200'
    ])
    tool = json.loads((tmp_path / 'by_hand' / 'comparison.json').read_text())
    assert tool.pop('provenance')['inputs'].keys() == prov['inputs'].keys()
    _same(tool, got)
    html = (out / 'report.html').read_text()
    row = [r for r in got['comparisons'] if r['metric'] == 'auc_macro'][0]
    assert f'{row["difference"]:.3f}' in html

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Outputs follow the run's work dir (issue 28, finding 1): two
``tools/test.py`` runs of a demo config with different ``--work-dir`` keep
both their lesion outputs; no config writes to a fixed folder."""
import glob
import json
import os.path as osp

import pandas as pd
from helpers import TINY_CONFIG, save_tiny_checkpoint
from mmengine.config import Config


def test_two_test_runs_with_different_work_dirs_keep_both_outputs(
        run_script, repo_root, demo_root, tmp_path):
    ckpt = str(tmp_path / 'tiny.pth')
    save_tiny_checkpoint(repo_root, ckpt)
    cfg = osp.join(repo_root, TINY_CONFIG)
    runs = {}
    for name, rounds in (('first', 20), ('second', 30)):
        work = tmp_path / name
        # cwd in tmp: a path relative to the working directory (the old
        # 'work_dirs/<config>/lesion_eval') lands there, not in the repo
        run_script([
            'tools/test.py', cfg, ckpt, '--work-dir',
            str(work), '--report', '--cfg-options',
            f'test_dataloader.dataset.data_root={demo_root}',
            f'test_evaluator.0.bootstrap_rounds={rounds}'
        ],
                   cwd=str(tmp_path))
        runs[name] = work / 'lesion_eval'
    for name, out in runs.items():
        for file in ('lesion_predictions.csv', 'image_predictions.csv',
                     'metrics.json', 'report.html'):
            assert (out / file).stat().st_size > 0, f'{name}: {file}'
        assert len(pd.read_csv(out / 'lesion_predictions.csv')) == 20
    # each run's own file: the first keeps its 20 bootstrap rounds
    for name, rounds in (('first', 20), ('second', 30)):
        doc = json.loads((runs[name] / 'metrics.json').read_text())
        assert doc['bootstrap_rounds'] == rounds, name
    assert not (tmp_path / 'work_dirs').exists()


def test_no_config_writes_to_a_fixed_folder(repo_root):
    """Every ``out_dir`` of every config is None or under ``{work_dir}``."""
    found = 0
    for path in glob.glob(
            osp.join(repo_root, 'configs', '**', '*.py'), recursive=True):
        text = open(path, encoding='utf-8').read()
        if 'out_dir' not in text or '_base_' in osp.relpath(
                path, repo_root).split(osp.sep)[1:2]:
            continue
        cfg = Config.fromfile(path)
        for field in ('val_evaluator', 'test_evaluator'):
            metrics = cfg.get(field) or []
            for m in metrics if isinstance(metrics, list) else [metrics]:
                out = m.get('out_dir')
                if out is not None:
                    found += 1
                    assert out.startswith('{work_dir}/'), (path, field, out)
    assert found >= 3  # the demo configs' test evaluators


def test_runner_work_dir_from_the_runner_log(tmp_path):
    from mmengine.logging import MMLogger

    from ecdl_mm.utils.work_dir import resolve_path
    log = tmp_path / 'wd' / '20261204_000000' / '20261204_000000.log'
    log.parent.mkdir(parents=True)
    MMLogger.get_instance('h28_work_dir_test', log_file=str(log))
    out = resolve_path('{work_dir}/lesion_eval', 'out_dir', makedirs=True)
    assert out == str(tmp_path / 'wd' / 'lesion_eval')
    assert osp.isdir(out)
    assert resolve_path('/fixed/x', 'out_dir') == '/fixed/x'

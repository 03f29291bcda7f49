# Copyright (c) ecdl_mm contributors. All rights reserved.
"""User mistakes end a tools/ entry point with one stderr line and exit 2
(issue 12); ``--debug`` brings the traceback back.

Each kind of mistake runs through the tool's ``__main__`` (in-process,
``run_script``, as ``python tools/x.py`` would): a stage run before the
stage it starts from, a checkpoint of the wrong kind, a file that is not a
checkpoint, a missing input (bad config fields are in
test_train_test_tools.py, an unsafe checkpoint in
test_unsafe_checkpoint_tools.py). Every entry point is then run the same way
on a missing file.
"""
import glob
import os
import os.path as osp
import runpy
import sys

import pytest
import torch
from helpers import TINY_CONFIG as CONFIG
from helpers.cli_checks import assert_one_line
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401

# the tiny stage-3 demo (fine-tuning from the stage-2 ECMAE demo)
STAGE3 = 'configs/ecdl/ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py'
TINY = 'tests/data/tiny_resnet_demo.py'
# every Python entry point in tools/
TOOLS = [
    'tools/train.py', 'tools/test.py', 'tools/infer.py',
    'tools/visualize_mae.py', 'tools/analysis/plot_features.py',
    'tools/dataset_converters/make_splits.py',
    'tools/dataset_converters/add_restart_markers.py',
    'tools/deploy/export.py', 'tools/model_converters/ecdl_to_mmpretrain.py',
    'tools/model_converters/mae_to_mmpretrain.py',
    'tools/model_converters/mmpretrain_vit_to_ecvit.py',
    'tools/model_converters/timm_to_mmpretrain.py', 'tools/realtime.py',
    'tools/misc/make_demo_video.py', 'tools/misc/make_demo_metadata.py',
    'tools/analysis/benchmark_models.py', 'tools/analysis/fewshot_curve.py',
    'tools/analysis/fit_operating_point.py', 'tools/analysis/reader_app.py'
]


def stage2_of(repo_root):
    """(init_cfg checkpoint path, stage-2 config) of the stage-3 demo."""
    cfg = Config.fromfile(osp.join(repo_root, STAGE3))
    path = cfg.model.backbone.init_cfg.checkpoint
    parts = path.split('/')
    name = parts[parts.index('work_dirs') + 1]
    stage2 = f'configs/ecdl/{name}.py'
    # the pipeline depends on it: the stage-2 config must exist
    assert osp.isfile(osp.join(repo_root, stage2)), stage2
    return path, stage2


@pytest.fixture
def demo_cwd(tmp_path, repo_root, demo_root):
    """A fresh working directory (no work_dirs/) from which the configs'
    relative paths (configs/..., ../shared/datasets/ecdl-demo) resolve."""
    cwd = tmp_path / 'run'
    cwd.mkdir()
    os.symlink(osp.join(repo_root, 'configs'), cwd / 'configs')
    os.makedirs(tmp_path / 'shared' / 'datasets')
    os.symlink(demo_root, tmp_path / 'shared' / 'datasets' / 'ecdl-demo')
    return str(cwd)


def test_stage_run_before_its_source_stage(run_script, repo_root, demo_cwd):
    ckpt, stage2 = stage2_of(repo_root)
    proc = run_script(['tools/train.py', STAGE3], check=False, cwd=demo_cwd)
    assert_one_line(
        proc, f"train.py: error: checkpoint '{ckpt}' "
        '(model.backbone.init_cfg.checkpoint) not found',
        f'run `python tools/train.py {stage2}` first')
    assert not osp.exists(osp.join(demo_cwd, 'work_dirs'))

    proc = run_script(['tools/train.py', STAGE3, '--debug'],
                      check=False,
                      cwd=demo_cwd)
    assert proc.returncode == 1
    assert 'Traceback (most recent call last)' in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('ecdl_mm.utils.checkpoint.MissingCheckpointError')
    assert stage2 in last


def test_pretraining_checkpoint_given_to_classifier_test(
        run_script, repo_root, demo_cwd, tmp_path):
    _, stage2 = stage2_of(repo_root)
    init_default_scope('mmpretrain')
    mae = MODELS.build(Config.fromfile(osp.join(repo_root, stage2)).model)
    ckpt = str(tmp_path / 'ecmae_epoch_20.pth')
    torch.save({'state_dict': mae.state_dict(), 'meta': {}}, ckpt)
    proc = run_script(['tools/test.py', STAGE3, ckpt],
                      check=False,
                      cwd=demo_cwd)
    assert_one_line(proc, f"checkpoint '{ckpt}' does not fit the model",
                    'head.fc.weight', 'neck.')
    # issue 28: the error line is not preceded by the ~400-line config dump
    # (one line on the terminal; the dump is in the log file)
    assert 'train_dataloader = dict(' not in proc.stdout
    assert len(proc.stdout.splitlines()) < 20, proc.stdout


def test_file_that_is_not_a_checkpoint(run_script, demo_root, tmp_path):
    notes = tmp_path / 'notes.pth'
    notes.write_text('my notes, not a checkpoint\n')
    proc = run_script([
        'tools/infer.py', CONFIG,
        str(notes),
        osp.join(demo_root, 'adenomas', '2')
    ],
                      check=False)
    assert_one_line(proc, f"'{notes}' is not a PyTorch checkpoint")


def test_missing_input(run_script, tmp_path):
    # the example: tools/infer.py CONFIG CKPT /nonexistent
    proc = run_script(
        ['tools/infer.py', CONFIG,
         str(tmp_path / 'x.pth'), '/nonexistent'],
        check=False)
    assert_one_line(proc, "infer.py: error: input '/nonexistent' does not "
                    'exist')


# Tools whose one-line errors are tested elsewhere (the clinical CLIs, in
# tests/test_evaluation/test_clinical) and maintainer scripts.
TESTED_ELSEWHERE = {
    'tools/analysis/compare_models.py', 'tools/analysis/reader_study.py',
    'tools/analysis/lesion_report.py', 'tools/analysis/subgroups.py',
    'tools/analysis/sample_size.py',
    'tools/analysis/examples/simulate_readers.py', 'tools/lock_requirements.py'
}


def _tools(repo_root):
    return sorted(
        rel for rel in (osp.relpath(p, repo_root) for p in glob.glob(
            osp.join(repo_root, 'tools', '**', '*.py'), recursive=True))
        if rel not in TESTED_ELSEWHERE)


def _missing_file_cases(repo_root, demo_root, tmp):
    _, stage2 = stage2_of(repo_root)
    missing_cfg, missing_ckpt = f'{tmp}/missing.py', f'{tmp}/missing.pth'
    cases = {
        'tools/train.py': ([missing_cfg], missing_cfg),
        'tools/test.py': ([TINY, missing_ckpt], missing_ckpt),
        'tools/infer.py': ([CONFIG, missing_ckpt, demo_root], missing_ckpt),
        'tools/visualize_mae.py': ([stage2, missing_ckpt,
                                    demo_root], missing_ckpt),
        'tools/analysis/plot_features.py': ([missing_cfg], missing_cfg),
        'tools/dataset_converters/make_splits.py':
        ([f'{tmp}/nowhere', '--out', f'{tmp}/s.xlsx'], f'{tmp}/nowhere'),
        'tools/dataset_converters/add_restart_markers.py':
        ([f'{tmp}/nowhere', f'{tmp}/copy'], f'{tmp}/nowhere'),
        'tools/deploy/export.py': ([missing_cfg], missing_cfg),
        'tools/realtime.py': ([CONFIG, missing_ckpt, '--source',
                               demo_root], missing_ckpt),
        'tools/misc/make_demo_video.py':
        ([f'{tmp}/v.avi', '--demo-root', f'{tmp}/nowhere'], f'{tmp}/nowhere'),
        'tools/misc/make_demo_metadata.py':
        ([f'{tmp}/meta', '--demo-root', f'{tmp}/nowhere'], f'{tmp}/nowhere'),
        'tools/analysis/benchmark_models.py': ([
            '--configs', CONFIG, TINY, '--splits', f'{tmp}/missing.xlsx',
            '--work-dir', f'{tmp}/bench'
        ], f'{tmp}/missing.xlsx'),
        'tools/analysis/fewshot_curve.py': ([
            '--configs', missing_cfg, '--data-root', demo_root, '--work-dir',
            f'{tmp}/fewshot'
        ], missing_cfg),
        'tools/analysis/fit_operating_point.py': ([
            CONFIG, missing_ckpt, '--out', f'{tmp}/op.json', '--sheet',
            'demo_train'
        ], missing_ckpt),
        'tools/analysis/reader_app.py': (['--study', f'{tmp}/missing.yaml'],
                                         f'{tmp}/missing.yaml'),
    }
    for tool in _tools(repo_root):
        if tool.startswith('tools/model_converters/'):
            cases[tool] = ([missing_ckpt, f'{tmp}/out.pth'], missing_ckpt)
    return cases


def test_every_tool_is_covered(repo_root, demo_root, tmp_path):
    cases = _missing_file_cases(repo_root, demo_root, str(tmp_path))
    assert sorted(cases) == sorted(TOOLS) == _tools(repo_root)


@pytest.fixture
def fresh_loggers():
    """mmengine's loggers are process-wide: one made by an earlier test
    under pytest's capture holds a closed stream; each tool run here makes
    its own."""
    from mmengine.logging import MMLogger
    saved = dict(MMLogger._instance_dict)
    MMLogger._instance_dict.clear()
    yield
    MMLogger._instance_dict.clear()
    MMLogger._instance_dict.update(saved)


@pytest.mark.parametrize('tool', TOOLS)
def test_missing_file_in_every_tool(fresh_loggers, tool, repo_root, demo_root,
                                    tmp_path, monkeypatch, capfd):
    args, missing = _missing_file_cases(repo_root, demo_root,
                                        str(tmp_path))[tool]
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setattr(sys, 'argv', [tool] + args)
    threads = torch.get_num_threads()
    try:
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(osp.join(repo_root, tool), run_name='__main__')
    finally:
        torch.set_num_threads(threads)
    err = capfd.readouterr().err
    assert exit_.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f'{osp.basename(tool)}: error: ')
    assert missing in lines[0]


# --------------------------------------------------------------------------
# Mistakes found while the Runner builds the dataset, and --cfg-options keys
# that do not exist (issue 17).
ABLATION = 'configs/ecdl/ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px.py'


def _bad_workbook(demo_root, path, edit):
    """A copy of the demo split workbook whose demo_test sheet is edited."""
    import pandas as pd
    sheets = pd.read_excel(
        osp.join(demo_root, 'dataset_divide.xlsx'), sheet_name=None)
    sheets['demo_test'] = edit(sheets['demo_test'].copy())
    with pd.ExcelWriter(path) as writer:
        for name, df in sheets.items():
            df.to_excel(writer, sheet_name=name, index=False)
    return str(path)


def _drop_class_index(df):
    return df.drop(columns=['class_index'])


def _class_name_typo(df):
    row = df.index[df['class_english'] == 'adenomas'][0]
    df.loc[row, 'class_english'] = 'adenoma'
    return df


@pytest.mark.parametrize('edit,expected', [
    (_drop_class_index, ["lacks the column(s) ['class_index']"]),
    (_class_name_typo,
     ["class_english 'adenoma' disagrees with class_index 0", 'adenomas']),
])
def test_split_sheet_mistake_raised_while_the_runner_builds(
        edit, expected, run_script, demo_root, tmp_path):
    sheet = _bad_workbook(demo_root, tmp_path / 'splits.xlsx', edit)
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')  # never read: the dataset fails first
    proc = run_script([
        'tools/test.py', ABLATION,
        str(ckpt), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'test_dataloader.dataset.data_root={demo_root}',
        f'test_dataloader.dataset.ann_file={sheet}'
    ],
                      check=False)
    line = assert_one_line(proc, 'test.py: error: ', f"{sheet} [sheet "
                           "'demo_test']", *expected)
    assert 'Traceback' not in proc.stdout + proc.stderr, line


@pytest.mark.parametrize('key,expected', [
    ('val_dataloader.dataset.data_root=x',
     'val_dataloader is None (this config has no such section'),
    ('model.hed.num_classes=3', "model (ImageClassifier) has no key 'hed'; "
     'nearest valid key: model.head'),
    ('train_cfg.max_epoch=2', 'nearest valid key: train_cfg.max_epochs'),
    ('test_evaluator.0.out_dri=x', 'test_evaluator.0 (LesionMetric) has no '
     "key 'out_dri'; nearest valid key: test_evaluator.0.out_dir"),
    ('test_evaluator.5.out_dir=x', "test_evaluator is a list of 2 item(s): "
     "'5' is not one of its indices"),
])
@pytest.mark.parametrize('tool', ['tools/train.py', 'tools/test.py'])
def test_cfg_options_key_that_does_not_exist(tool, key, expected, repo_root,
                                             tmp_path, monkeypatch, capfd):
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')
    args = [ABLATION] + ([str(ckpt)] if tool.endswith('test.py') else [])
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setattr(
        sys, 'argv', [tool] + args +
        ['--work-dir', str(tmp_path / 'w'), '--cfg-options', key])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(osp.join(repo_root, tool), run_name='__main__')
    err = capfd.readouterr().err
    assert exit_.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f'{osp.basename(tool)}: error: Invalid '
                               f'--cfg-options: {key.split("=")[0]}: ')
    assert expected in lines[0]
    assert not (tmp_path / 'w').exists()  # stopped before the Runner


def test_cfg_options_that_exist_or_are_taken_pass(repo_root):
    from ecdl_mm.utils import check_cfg_options
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(repo_root, ABLATION))
    # existing keys, new arguments the component takes, new Runner sections,
    # new arguments of a section without type when they are no near miss
    check_cfg_options(
        cfg, {
            'train_dataloader.dataset.dataset.data_root': 'x',
            'model.backbone.init_cfg.checkpoint': 'y',
            'test_evaluator.0.out_dir': 'd',
            'model.train_cfg': None,
            'randomness.seed': 1,
            'work_dir': 'w',
            'train_cfg.val_begin': 2,
        })
    # and mmengine then merges them without complaint
    cfg.merge_from_dict({'test_evaluator.0.out_dir': 'd'})
    assert cfg.test_evaluator[0].out_dir == 'd'


@pytest.mark.parametrize('tool,extra', [('tools/train.py', []),
                                        ('tools/test.py', ['x.pth'])])
def test_config_that_is_a_directory(tool, extra, repo_root, monkeypatch,
                                    capfd):
    # issue 28: `train.py configs/ecdl/` said the file "does not exist"
    monkeypatch.chdir(repo_root)
    monkeypatch.setattr(sys, 'argv', [tool, 'configs/ecdl/'] + extra)
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(osp.join(repo_root, tool), run_name='__main__')
    assert exit_.value.code == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    first = sorted(f for f in os.listdir('configs/ecdl') if f.endswith('.py'))
    assert "config 'configs/ecdl/' is a directory, not a config file" \
        in lines[0]
    assert f'e.g. configs/ecdl/{first[0]}' in lines[0]

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Every tool with ``--cfg-options`` checks and merges it the same way
(``ecdl_mm.utils.cfg_options``, issue 27): a mistyped key ends the run with
the same one line naming the key and the nearest valid one; a valid key
changes the config, and a new argument the component takes is accepted.

Each tool runs in-process (``runpy``, as ``python tools/x.py``), stopped by
a patched library function it calls with the merged config, before any model
runs (no subprocess, no training).
"""
import os.path as osp

import pytest
from helpers.in_process import run_in_process

import ecdl_mm  # noqa: F401
import ecdl_mm.deploy
import ecdl_mm.experiments
import ecdl_mm.experiments.few_shot_curve
import ecdl_mm.experiments.model_benchmark
import ecdl_mm.utils

LESION_CFG = 'tests/data/tiny_resnet_lesion_demo.py'
FEWSHOT_CFG = 'configs/fewshot/ecvit-mini-p8_fewshot-linear_ecnbi-demo-64px.py'
BENCH_CFGS = [
    'configs/baselines/resnet-mini_1xb8-10e_ecnbi-demo-64px.py',
    'configs/baselines/deit-mini-p8_1xb8-10e_ecnbi-demo-64px.py'
]


class Reached(BaseException):
    """Raised by the patched stop point, carrying the merged config (a
    ``BaseException``: it passes the tools' and the runner's handlers of
    ordinary errors)."""

    def __init__(self, cfg):
        super().__init__('stop point reached')
        self.cfg = cfg


def _stop_with(position=0, keyword=None):
    """A stand-in that raises :class:`Reached` with the config it got (the
    ``position``-th argument, or the ``keyword`` argument)."""

    def stop(*args, **kwargs):
        raise Reached(kwargs[keyword] if keyword else args[position])

    return stop


# tool: (arguments before --cfg-options, {demo} and {tmp} filled in; the
# module and function it calls with the merged config; how the stand-in
# finds the config there)
TOOLS = {
    'tools/train.py': ([LESION_CFG, '--work-dir',
                        '{tmp}/w'], (ecdl_mm.utils, 'check_config'), {}),
    'tools/test.py': ([LESION_CFG, '{tmp}/model.pth', '--work-dir',
                       '{tmp}/w'], (ecdl_mm.utils, 'check_config'), {}),
    'tools/analysis/plot_features.py':
    ([LESION_CFG, '--out',
      '{tmp}/f.png'], (ecdl_mm.utils, 'check_checkpoint_paths'), {}),
    'tools/analysis/fit_operating_point.py': ([
        LESION_CFG, '{tmp}/model.pth', '--out', '{tmp}/op.json', '--sheet',
        'demo_train'
    ], (ecdl_mm.experiments, 'predict_views'), {}),
    'tools/deploy/export.py':
    ([LESION_CFG, '--out-dir',
      '{tmp}/deploy'], (ecdl_mm.deploy, 'export'), dict(keyword='cfg')),
    'tools/analysis/fewshot_curve.py': ([
        '--configs', FEWSHOT_CFG, '--work-dir', '{tmp}/fs', '--data-root',
        '{demo}'
    ], (ecdl_mm.experiments.few_shot_curve, 'cohort_lesions_per_class'), {}),
    'tools/analysis/benchmark_models.py': ([
        '--configs', *BENCH_CFGS, '--splits', '{demo}/dataset_divide.xlsx',
        '--sheets', 'demo_train', 'none', 'demo_test', '--work-dir',
        '{tmp}/bench'
    ], (ecdl_mm.experiments.model_benchmark, 'train_and_test'), {}),
}


@pytest.fixture
def run_tool_inprocess(repo_root, demo_root, tmp_path, monkeypatch, capfd):
    """``run(tool, options)``: the tool's stderr lines and exit status on a
    user mistake, or the config it reached its stop point with (run by
    :func:`helpers.in_process.run_in_process`, which puts back what a run
    changes)."""
    # export.py would set this process's torch threads
    monkeypatch.setattr(ecdl_mm.utils, 'set_inference_threads', lambda n: 0)
    (tmp_path / 'model.pth').write_bytes(b'')  # never read

    def run(tool, options):
        argv, (module, name), how = TOOLS[tool]
        monkeypatch.setattr(module, name, _stop_with(**how))
        args = [a.format(demo=demo_root, tmp=tmp_path)
                for a in argv] + ['--cfg-options', *options]
        try:
            proc = run_in_process(
                tool, args, capfd, cwd=repo_root, env={'LOCAL_RANK': '0'})
        except Reached as reached:
            return reached.cfg
        if proc.returncode == 0:
            raise AssertionError(f'{tool} ended without reaching {name}')
        return proc.returncode, proc.stderr.strip().splitlines()

    return run


@pytest.mark.parametrize(
    'typo,problem', [
        ('test_dataloader.batch_sise',
         "test_dataloader has no key 'batch_sise'; "
         'nearest valid key: test_dataloader.batch_size'),
        ('test_dataloder.batch_size',
         "the config has no key 'test_dataloder'; "
         'nearest valid key: test_dataloader'),
    ],
    ids=['nested', 'top-level'])
@pytest.mark.parametrize('tool', list(TOOLS))
def test_typo_key_is_the_same_one_line_in_every_tool(tool, typo, problem,
                                                     run_tool_inprocess,
                                                     demo_root):
    code, lines = run_tool_inprocess(
        tool, [f'test_dataloader.dataset.data_root={demo_root}', f'{typo}=3'])
    assert code == 2, lines
    assert lines == [
        f'{osp.basename(tool)}: error: Invalid --cfg-options: {typo}: '
        f'{problem} (--debug shows the traceback)'
    ]


@pytest.mark.parametrize('tool', list(TOOLS))
def test_valid_and_new_keys_reach_the_config(tool, run_tool_inprocess,
                                             demo_root):
    cfg = run_tool_inprocess(tool, [
        f'test_dataloader.dataset.data_root={demo_root}',
        'test_dataloader.batch_size=3', 'test_evaluator.0.prefix=cfgopt'
    ])
    # an existing key changed (8 in every config used here) and a new
    # argument LesionMetric takes, added
    assert cfg.test_dataloader.batch_size == 3
    assert cfg.test_evaluator[0].type == 'LesionMetric'
    assert cfg.test_evaluator[0].prefix == 'cfgopt'
    assert cfg.test_dataloader.dataset.data_root == demo_root


def test_merge_cfg_options_names_its_source_and_old_imports_work(repo_root):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from ecdl_mm.utils import ConfigError, config_check, merge_cfg_options
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(repo_root, LESION_CFG))
    assert merge_cfg_options(cfg, None) is cfg
    with pytest.raises(ConfigError) as err:
        merge_cfg_options(cfg, {'model.hed.num_classes': 4}, 'cfg_options')
    assert str(err.value).splitlines() == [
        'Invalid cfg_options:',
        "  - model.hed.num_classes: model (ImageClassifier) has no key "
        "'hed'; nearest valid key: model.head"
    ]
    assert cfg.model.head.num_classes == 3  # nothing merged
    # the names' old home still has them
    assert config_check.ConfigError is ConfigError
    assert config_check.check_cfg_options is ecdl_mm.utils.check_cfg_options

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""readable_console_logs: what the terminal shows of mmengine's log (one
line per dump, per module, per warning kind), while the log file keeps
every line; mmengine's behaviour is back on exit."""
import uuid

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import BaseModule

from ecdl_mm.utils import console_log
from ecdl_mm.utils.console_log import (first_time_shown, readable_console_logs,
                                       warning_key)

ENV = ('\n' + '-' * 60 + '\nSystem environment:\n    sys.platform: linux\n'
       '    Python: 3.11.7 (main, May  9 2026) [GCC 12.2.0]\n'
       '    CUDA available: False\n    PyTorch: 2.14.1\n'
       '    PyTorch compiling details: PyTorch built with:\n'
       '  - Build settings: ' + 'X' * 2000 + '\n\n'
       'Runtime environment:\n    seed: 0\n    Distributed launcher: none\n'
       '    Distributed training: False\n    GPU number: 1\n' + '-' * 60 +
       '\n')
STATE_DICT = ('The model and loaded state dict do not match exactly\n\n'
              'unexpected key in source state_dict: ln1.weight, ln1.bias\n\n'
              'missing keys in source state_dict: ln2.weight, ln2.bias\n')
LEAK = ('UserWarning: patients were NOT checked for leakage between splits: '
        '{} (patient_id column empty)')


def new_logger(tmp_path):
    name = f'test-{uuid.uuid4().hex}'
    return MMLogger.get_instance(
        name, logger_name=name, log_file=str(tmp_path / 'run.log'))


def test_terminal_summary_and_full_log_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    config = 'Config:\n' + '\n'.join(f'x{i} = {i}' for i in range(300))
    hooks = ('Hooks will be executed in the following order:\nbefore_run:\n'
             '(VERY_HIGH   ) RuntimeInfoHook                    \n'
             '(BELOW_NORMAL) LoggerHook                         \n')
    with readable_console_logs():
        logger = new_logger(tmp_path)
        logger.info(ENV)
        logger.info(config)
        logger.info(hooks)
        for i in range(40):
            logger.info(f'paramwise_options -- layers.{i}.bias:'
                        'weight_decay=0.0')
        logger.info('paramwise_options -- mask_token:lr=0.1')
        for _ in range(3):
            logger.info('Exp name: demo_1')
            logger.info('Epoch(train) [1][3/3]  loss: 1.0')
        logger.warning(LEAK.format('train.xlsx[train]'))
        logger.warning(LEAK.format('test.xlsx[test]'))  # the same kind
        logger.warning(STATE_DICT)
        logger.warning('"FileClient" will be deprecated in future.')
    out = capsys.readouterr().out.splitlines()
    text = '\n'.join(out)
    log = (tmp_path / 'run.log').read_text()
    # terminal: one line each, naming the log file
    [env] = [line for line in out if 'Environment: ' in line]
    assert env.endswith(
        'Environment: Python 3.11.7, PyTorch 2.14.1; CPU only (CUDA not '
        f'available); 1 process(es); seed 0 (full environment in '
        f'{tmp_path}/run.log)')
    assert f'Config: 300 lines, dumped into the work dir and written to ' \
        f'{tmp_path}/run.log' in text
    assert 'Hooks: RuntimeInfoHook, LoggerHook (order per stage in ' in text
    assert 'paramwise_options: weight_decay=0.0 for 40 parameters; lr=0.1 ' \
        'for 1 parameters (mask_token) (each parameter in' in text
    assert text.count('Exp name: demo_1') == 1
    assert text.count('Epoch(train)') == 3
    assert text.count('patients were NOT checked') == 1
    assert 'known state-dict difference: MAE encoder loaded into a ' \
        'classifier' in text and 'unexpected key' not in text
    assert 'FileClient' not in text and 'GPU number' not in text
    # env, config, hooks; paramwise; Exp name once, 3 epochs; 2 warnings
    assert len(out) == 3 + 1 + 4 + 2
    # the log file: everything (the env without the misleading GPU number)
    assert 'x299 = 299' in log and 'Build settings: XXX' in log
    assert 'processes: 1 (CPU only)' in log and 'GPU number' not in log
    assert log.count('paramwise_options --') == 41
    assert 'FileClient' in log and 'RuntimeInfoHook' in log


def test_weight_init_outside_a_runner_is_one_line_per_module(capsys):

    class Net(BaseModule):

        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
            self.head = nn.Linear(4, 2)
            self.backbone[0].init_cfg = None

    net = Net()
    net.init_cfg = [
        dict(type='Constant', layer='Linear', val=0.5),
    ]
    name = f'test-{uuid.uuid4().hex}'
    MMLogger.get_instance(name, logger_name=name)  # no log file
    with readable_console_logs():
        net.init_weights()
    out = capsys.readouterr().out
    assert 'torch.Size' not in out
    lines = [line.split(' - INFO - ', 1)[1] for line in out.splitlines()]
    assert lines == [
        'init backbone (4 tensors): ConstantInit: val=0.5, bias=0 (2: 0.weight'
        ', 0.bias); not changed by init_weights (constructor default) (2: '
        '1.weight, 1.bias)',
        'init head (2 tensors): ConstantInit: val=0.5, bias=0 (2)'
    ]
    # mmengine's own behaviour is back after the block
    assert BaseModule._dump_init_info is not \
        console_log._dump_init_info_by_module
    assert not any(
        isinstance(f, console_log.ConsoleLogFilter)
        for h in MMLogger.get_instance(name).handlers for f in h.filters)


def test_once_per_run_across_processes(tmp_path, monkeypatch):
    shared = tmp_path / 'shown'
    monkeypatch.setenv('ECDL_SHOWN_WARNINGS', str(shared))
    first = LEAK.format('a.xlsx[train]')
    assert warning_key(first) == ('patients were NOT checked for leakage '
                                  'between splits')
    assert first_time_shown(first)
    assert not first_time_shown(LEAK.format('b.xlsx[val]'))
    console_log._shown_warnings.clear()  # another process of the same run
    assert not first_time_shown(LEAK.format('c.xlsx[test]'))
    assert first_time_shown('UserWarning: something else: x')
    assert shared.read_text().splitlines() == [
        'patients were NOT checked for leakage between splits',
        'something else'
    ]


def test_environment_line_of_a_gpu_run():
    env = ENV.replace('CUDA available: False',
                      'CUDA available: True\n    GPU 0,1: NVIDIA H200')
    env = env.replace(
        'Distributed training: False',
        "Distributed training: True\n    dist_cfg: "
        "{'backend': 'nccl'}").replace('launcher: none', 'launcher: pytorch')
    env = env.replace('GPU number: 1', 'GPU number: 2')
    assert console_log._environment_line(env) == (
        'Environment: Python 3.11.7, PyTorch 2.14.1; CUDA (GPU 0,1: NVIDIA '
        'H200); 2 process(es), distributed (pytorch, nccl); seed 0')

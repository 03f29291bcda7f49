# Copyright (c) ecdl_mm contributors. All rights reserved.
# Train a model from an ecdl_mm (or any mmpretrain) config.
# Same CLI and behaviour as mmpretrain's tools/train.py, plus: early config
# validation (and of the checkpoints it starts from), CPU multi-process
# training (gloo) under torchrun, safe checkpoint loading on resume, one-line
# errors for user mistakes (--debug for the traceback).
import argparse
import os
import os.path as osp
from copy import deepcopy

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import ecdl_mm  # noqa: F401  registers components, safe loading
from ecdl_mm.engine import summarise_metric_logs
from ecdl_mm.utils import (add_cfg_options, check_checkpoint_paths,
                           check_config, merge_cfg_options,
                           setup_cpu_distributed, teardown_distributed)
from ecdl_mm.utils.cli import config_file, run_cli
from ecdl_mm.utils.work_dir import resolve_work_dir


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If a checkpoint path is given, resume from it; without a path, '
        'resume from the latest checkpoint in the work directory.')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size over '
        'auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable pin_memory in dataloaders')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='disable persistent_workers in dataloaders')
    add_cfg_options(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Merge CLI arguments into the config (as mmpretrain's tool does)."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    cfg.launcher = args.launcher

    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True

    default_dataloader_cfg = ConfigDict(
        pin_memory=torch.cuda.is_available(),  # else torch warns each run
        persistent_workers=True,
        collate_fn=dict(type='default_collate'),
    )

    def set_default_dataloader_cfg(cfg, field):
        if cfg.get(field, None) is None:
            return
        dataloader_cfg = deepcopy(default_dataloader_cfg)
        dataloader_cfg.update(cfg[field])
        if dataloader_cfg.get('num_workers', 0) == 0:
            dataloader_cfg.persistent_workers = False
        cfg[field] = dataloader_cfg
        if args.no_pin_memory:
            cfg[field]['pin_memory'] = False
        if args.no_persistent_workers:
            cfg[field]['persistent_workers'] = False

    set_default_dataloader_cfg(cfg, 'train_dataloader')
    set_default_dataloader_cfg(cfg, 'val_dataloader')
    set_default_dataloader_cfg(cfg, 'test_dataloader')

    merge_cfg_options(cfg, args.cfg_options)
    # '{work_dir}/lesion_eval' of the demo configs: this run's work dir
    resolve_work_dir(cfg)
    # the metrics' own tables stay readable: no 150-key line
    summarise_metric_logs(cfg)
    return cfg


def main():
    args = parse_args()
    cfg = Config.fromfile(config_file(args.config))
    cfg = merge_args(cfg, args)
    check_config(cfg, phase='train')
    check_checkpoint_paths(cfg, phase='train')
    setup_cpu_distributed(cfg)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()
    teardown_distributed()


if __name__ == '__main__':
    run_cli(main)

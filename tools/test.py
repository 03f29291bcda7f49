# Copyright (c) ecdl_mm contributors. All rights reserved.
# Test (and evaluate) a checkpoint with an ecdl_mm (or any mmpretrain) config.
# Same CLI and behaviour as mmpretrain's tools/test.py, plus early config
# validation, CPU multi-process testing (gloo) under torchrun, safe checkpoint
# loading, a check that the checkpoint fits the model and one-line errors for
# user mistakes (--debug for the traceback).
import argparse
import os
import os.path as osp
from copy import deepcopy

import mmengine
import torch
from mmengine.config import Config, ConfigDict
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import ecdl_mm  # noqa: F401  registers components, safe loading
from ecdl_mm.deploy import GPUOnlyError, check_gpu_options
from ecdl_mm.engine import CheckpointFitHook, summarise_metric_logs
from ecdl_mm.evaluation.operating_point import (OperatingPoint,
                                                OperatingPointError)
from ecdl_mm.evaluation.report import (enable_lesion_report, lesion_out_dirs,
                                       write_lesion_reports)
from ecdl_mm.inference.options import add_backend_options
from ecdl_mm.utils import (ConfigError, add_cfg_options,
                           check_checkpoint_paths, check_config,
                           merge_cfg_options, missing_checkpoint_error,
                           setup_cpu_distributed, teardown_distributed)
from ecdl_mm.utils.cli import config_file, run_cli
from ecdl_mm.utils.provenance import provenance_from_config, record_provenance
from ecdl_mm.utils.work_dir import resolve_work_dir


def parse_args():
    parser = argparse.ArgumentParser(
        description='ecdl_mm test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument('--out', help='the file to output results.')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='whether --out gets the metrics or the predictions '
        '(default: predictions)')
    add_cfg_options(parser)
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision test')
    parser.add_argument(
        '--show-dir',
        help='directory where the visualization images will be saved.')
    parser.add_argument(
        '--show',
        action='store_true',
        help='display the prediction results in a window.')
    parser.add_argument(
        '--interval', type=int, default=1, help='visualize every N samples')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='seconds per window')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable pin_memory in dataloaders')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: `tta_pipeline`/`tta_model` from the '
        'config, else flip TTA averaging the class scores (ViewTTAModel)')
    add_backend_options(
        parser,
        preprocess=False,
        backend_help='model backend for the test loop (as tools/infer.py: '
        'cuda-graph runs CUDA graphs in fp16 by default, GPU only); built '
        'on the first batch and checked against eager fp32 there')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--report',
        action='store_true',
        help='also write report.html (tools/analysis/lesion_report.py) in '
        'the LesionMetric out_dir (default <work-dir>/lesion_eval)')
    parser.add_argument(
        '--operating-point',
        help='operating-point JSON (tools/analysis/fit_operating_point.py): '
        'its test-time view, and raw, calibrated and selective metrics')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Merge CLI arguments into the config (as mmpretrain's tool does)."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg.fp16 = True

    if args.show or (args.show_dir is not None):
        assert 'visualization' in cfg.default_hooks, \
            'VisualizationHook is not set in the `default_hooks` field of ' \
            'config. Please set `visualization=dict(type="VisualizationHook")`'
        cfg.default_hooks.visualization.enable = True
        cfg.default_hooks.visualization.show = args.show
        cfg.default_hooks.visualization.wait_time = args.wait_time
        cfg.default_hooks.visualization.out_dir = args.show_dir
        cfg.default_hooks.visualization.interval = args.interval

    own_tta = 'tta_model' in cfg or 'tta_pipeline' in cfg
    backend = args.backend != 'eager' or args.precision not in (None, 'fp32')
    if backend and args.tta and own_tta:
        raise ConfigError(
            '--backend / --precision run the classifier through the view '
            "function (ViewTTAModel), not the config's own tta_model / "
            'tta_pipeline; drop --tta or those keys')
    if backend:
        # the view (flip with --tta) and the backend in one wrapper
        cfg.model = ConfigDict(
            type='ViewTTAModel',
            module=cfg.model,
            flip=bool(args.tta),
            backend=args.backend,
            precision=args.precision)
    elif args.tta and not own_tta:
        # flip TTA through the view function every inference path shares
        # (ecdl_mm.inference.view_probs: one call on images + mirrors)
        cfg.model = ConfigDict(type='ViewTTAModel', module=cfg.model)
    elif args.tta:
        if 'tta_model' not in cfg:
            cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
        if 'tta_pipeline' not in cfg:
            test_pipeline = cfg.test_dataloader.dataset.pipeline
            cfg.tta_pipeline = deepcopy(test_pipeline)
            flip_tta = dict(
                type='TestTimeAug',
                transforms=[
                    [
                        dict(type='RandomFlip', prob=1.),
                        dict(type='RandomFlip', prob=0.)
                    ],
                    [test_pipeline[-1]],
                ])
            cfg.tta_pipeline[-1] = flip_tta
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline

    default_dataloader_cfg = ConfigDict(
        pin_memory=torch.cuda.is_available(),  # else torch warns each run
        collate_fn=dict(type='default_collate'),
    )

    def set_default_dataloader_cfg(cfg, field):
        if cfg.get(field, None) is None:
            return
        dataloader_cfg = deepcopy(default_dataloader_cfg)
        dataloader_cfg.update(cfg[field])
        cfg[field] = dataloader_cfg
        if args.no_pin_memory:
            cfg[field]['pin_memory'] = False

    set_default_dataloader_cfg(cfg, 'test_dataloader')
    # '{work_dir}/lesion_eval' of the demo configs: this run's work dir
    resolve_work_dir(cfg)

    # the metrics' own tables stay readable: no 150-key line
    summarise_metric_logs(cfg)
    return cfg


def main():
    args = parse_args()
    if args.out is None and args.out_item is not None:
        raise ConfigError('--out-item needs --out (the file to write)')

    cfg = Config.fromfile(config_file(args.config))
    # --cfg-options first (as mmpretrain's tool): merged after the TTA
    # wrapper, a `model.backbone...` option would land in the wrapper
    merge_cfg_options(cfg, args.cfg_options)
    if args.operating_point:
        op = OperatingPoint.load(args.operating_point)
        op.apply_to_config(cfg)
        args.tta = args.tta or bool(op.view.get('flip'))
    # before the data and model load: the runner's device
    check_gpu_options('cuda' if torch.cuda.is_available() else 'cpu',
                      args.backend, args.precision)
    cfg = merge_args(cfg, args)
    if not osp.isfile(args.checkpoint) and '://' not in args.checkpoint:
        raise missing_checkpoint_error(args.checkpoint)
    check_config(cfg, phase='test')
    check_checkpoint_paths(cfg, phase='test')
    setup_cpu_distributed(cfg)
    report_dirs = enable_lesion_report(cfg) if args.report else []

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    # a checkpoint that leaves weights unset (another stage's) is refused
    runner.register_hook(CheckpointFitHook())

    if args.out and args.out_item in ['pred', None]:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))

    metrics = runner.test()
    # where the results came from: into metrics.json, beside every CSV
    # (<csv>.provenance.json) and so into report.html
    provenance = provenance_from_config(cfg, args.config, args.checkpoint)
    out_dirs = lesion_out_dirs(cfg)
    record_provenance(provenance, out_dirs)

    write_lesion_reports(report_dirs)

    if args.out and args.out_item == 'metrics':
        mmengine.dump(metrics, args.out)
    if args.out:
        record_provenance(provenance, files=[args.out])
    # the files above are written by rank 0 only: the group is needed
    # until here
    teardown_distributed()


if __name__ == '__main__':
    run_cli(main, user_errors=(OperatingPointError, GPUOnlyError))

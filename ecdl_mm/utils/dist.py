# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Multi-process training on machines without a GPU.

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and its default
DDP wrapper passes ``device_ids=[LOCAL_RANK]``; both fail on a CPU-only
machine. When no GPU is visible we initialise a gloo process group ourselves
*before* the Runner is built (so mmengine's ``init_dist`` is skipped) and ask
for a DDP wrapper with ``device_ids=None``. With GPUs nothing is changed:
torchrun + NCCL + mmengine's stock DDP path.
"""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare ``cfg`` (and the process group) for CPU multi-process runs.

    Args:
        cfg (Config): The merged config; ``cfg.launcher`` is read.

    Returns:
        bool: True if the CPU (gloo) path was taken.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise ValueError(
            f'--launcher {launcher} needs GPUs; on a CPU-only machine use '
            '`--launcher pytorch` through torchrun (tools/dist_train.sh).')
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if key not in os.environ:
            raise RuntimeError(
                f'--launcher pytorch expects torchrun\'s environment, but '
                f'{key} is not set: start it with tools/dist_train.sh.')

    cfg.setdefault('env_cfg', ConfigDict())
    cfg.env_cfg.setdefault('dist_cfg', ConfigDict())
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')

    wrapper = ConfigDict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    wrapper_cls = MODEL_WRAPPERS.get(wrapper.type)
    if wrapper_cls is not None and issubclass(wrapper_cls,
                                              DistributedDataParallel):
        # mmengine would otherwise inject device_ids=[LOCAL_RANK] (a GPU id).
        wrapper.device_ids = None
    cfg.model_wrapper_cfg = wrapper
    return True


def teardown_distributed() -> None:
    """Destroy the process group at the end of a run, if one was made.

    Left to the interpreter's exit, gloo's threads are torn down with the
    process and a rank can abort ("terminate called without an active
    exception", exit code -6) after its work is done: about one two-process
    CPU run in ten failed so here (``tools/train.py``, ``tools/test.py``).
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()

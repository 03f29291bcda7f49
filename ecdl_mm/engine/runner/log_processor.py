# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A log processor whose validation / test line stays readable."""
import os.path as osp
from collections import OrderedDict

import numpy as np
import torch
from mmengine.runner import LogProcessor
from mmpretrain.registry import LOG_PROCESSORS


@LOG_PROCESSORS.register_module()
class MetricSummaryLogProcessor(LogProcessor):
    """mmengine's :class:`~mmengine.runner.LogProcessor`, with large metric
    groups summarised in the validation / test epoch line.

    Differences from mmengine's: in the line that
    :meth:`get_log_after_epoch` returns, a metric group (the keys sharing
    the prefix before the first ``/``, e.g. ``image/`` and ``lesion/`` of
    ``LesionMetric``, about 150 keys with intervals and confusion matrices)
    with more than ``max_group_items`` keys is left out of the line, which
    ends with ``(image/*: 80, lesion/*: 80 values in
    <log_dir>/<timestamp>.json)``. The metric that
    made the group logs its own table; the returned ``tag``, which
    ``LoggerHook`` writes to that JSON file and the visualizer backends,
    keeps every value. Small groups and plain keys (``accuracy/top1``,
    ``time``) are shown as before. Training lines are unchanged.

    Args:
        max_group_items (int): Largest group shown key by key. Defaults to
            8.
        **kwargs: Arguments of :class:`~mmengine.runner.LogProcessor`.
    """

    def __init__(self, max_group_items: int = 8, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(max_group_items, int) or max_group_items < 0:
            raise ValueError(f'max_group_items={max_group_items!r} must be '
                             'a non-negative integer')
        self.max_group_items = max_group_items

    def _format(self, val) -> str:
        if isinstance(val, float):
            return f'{val:.{self.num_digits}f}'
        if isinstance(val, (torch.Tensor, np.ndarray)):
            return f'\n{val}\n'
        return str(val)

    def get_log_after_epoch(self,
                            runner,
                            batch_idx: int,
                            mode: str,
                            with_non_scalar: bool = False):
        tag, log_str = super().get_log_after_epoch(runner, batch_idx, mode,
                                                   with_non_scalar)
        full = tag if with_non_scalar else super().get_log_after_epoch(
            runner, batch_idx, mode, True)[0]
        groups = OrderedDict()
        for key in full:
            groups.setdefault(
                key.split('/', 1)[0] if '/' in key else None, []).append(key)
        big = {
            p: keys
            for p, keys in groups.items()
            if p is not None and len(keys) > self.max_group_items
        }
        if not big:
            return tag, log_str
        head = log_str.split('  ', 1)[0]
        json_log = osp.join(runner.log_dir, f'{runner.timestamp}.json')
        items = [
            f'{k}: {self._format(full[k])}' for p, keys in groups.items()
            if p not in big for k in keys
        ]
        summary = ', '.join(f'{p}/*: {len(k)}' for p, k in big.items())
        items.append(f'({summary} values in {json_log})')
        return tag, head + '    ' + '  '.join(items)


def summarise_metric_logs(cfg) -> None:
    """Use :class:`MetricSummaryLogProcessor` when ``cfg`` names no log
    processor type of its own (``tools/train.py`` and ``tools/test.py``)."""
    current = cfg.get('log_processor') or {}
    if not current.get('type'):
        cfg.log_processor = dict(current, type='MetricSummaryLogProcessor')

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""MetricSummaryLogProcessor: a large metric group leaves the val/test epoch
line (its values stay in the returned tag, which LoggerHook writes to the
JSON log); anything else is logged as mmengine's LogProcessor logs it."""
from unittest.mock import MagicMock

import numpy as np
import pytest
from mmengine.logging import MessageHub
from mmengine.runner import LogProcessor

from ecdl_mm.engine import MetricSummaryLogProcessor


def _runner(name, lesion_keys):
    hub = MessageHub.get_instance(name)
    for i in range(lesion_keys):
        hub.update_scalar(f'test/lesion/m{i}', i / 10)
    hub.update_scalar('test/accuracy/top1', 70.0)
    hub.update_scalar('test/time', 0.5)
    runner = MagicMock()
    runner.message_hub = hub
    runner.log_dir = '/logs/run'
    runner.timestamp = '20260101_000000'
    return runner, hub


def test_large_group_is_summarised_and_kept_in_the_tag():
    runner, hub = _runner('summary_big', 10)
    hub.update_info('test/lesion/confusion_matrix', np.eye(3))
    proc = MetricSummaryLogProcessor(max_group_items=8)
    tag, line = proc.get_log_after_epoch(runner, 3, 'test', True)
    ref_tag, ref_line = LogProcessor().get_log_after_epoch(
        runner, 3, 'test', True)
    assert set(tag) == set(ref_tag)  # every value still goes to the JSON
    assert 'lesion/m3: 0.3000' in ref_line and 'lesion/m3' not in line
    assert line.startswith(ref_line.split('  ', 1)[0])
    assert line.endswith('accuracy/top1: 70.0000  time: 0.5000  '
                         '(lesion/*: 11 values in '
                         '/logs/run/20260101_000000.json)')
    # without non-scalars in the tag, the line still counts them
    tag, line = proc.get_log_after_epoch(runner, 3, 'test', False)
    assert 'lesion/confusion_matrix' not in tag
    assert '(lesion/*: 11 values in' in line


def test_small_groups_are_logged_as_mmengine_does():
    runner, _ = _runner('summary_small', 8)
    ours = MetricSummaryLogProcessor(max_group_items=8).get_log_after_epoch(
        runner, 3, 'test')
    assert ours == LogProcessor().get_log_after_epoch(runner, 3, 'test')


def test_bad_max_group_items():
    with pytest.raises(ValueError, match='max_group_items=-1'):
        MetricSummaryLogProcessor(max_group_items=-1)

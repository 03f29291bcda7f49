# Copyright (c) ecdl_mm contributors. All rights reserved.
"""CheckpointFitHook refuses a checkpoint that leaves weights unset, before
the Runner applies it."""
import types

import pytest
import torch
from mmengine.model import BaseModel, BaseTTAModel
from mmpretrain.registry import HOOKS

import ecdl_mm  # noqa: F401
from ecdl_mm.engine import CheckpointFitHook
from ecdl_mm.utils import CheckpointKindError


class _Net(BaseModel):

    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Linear(3, 2)
        self.head = torch.nn.Linear(2, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.head(self.backbone(inputs))


class _TTA(BaseTTAModel):

    def merge_preds(self, data_samples_list):
        return data_samples_list[0]


def test_checkpoint_fit_hook():
    hook = HOOKS.build(dict(type='CheckpointFitHook'))
    assert isinstance(hook, CheckpointFitHook)
    model = _Net()
    full = {'state_dict': model.state_dict()}
    # through a test-time-augmentation wrapper as under tools/test.py --tta
    for m in (model, _TTA(module=model)):
        runner = types.SimpleNamespace(model=m, _load_from='best.pth')
        hook.after_load_checkpoint(runner, full)
        encoder_only = {
            'state_dict': {
                k: v
                for k, v in model.state_dict().items()
                if k.startswith('backbone.')
            }
        }
        with pytest.raises(
                CheckpointKindError,
                match="'best.pth' does not fit.*head.weight"):
            hook.after_load_checkpoint(runner, encoder_only)

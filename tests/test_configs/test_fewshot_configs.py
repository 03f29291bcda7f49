# Copyright (c) ecdl_mm contributors. All rights reserved.
"""configs/fewshot: each adaptation method trains exactly the parameters it
claims (linear probe: the head; LoRA: LoRA and the head; prompt tuning:
the prompts and the head; full: everything), at both sizes."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401

HEAD = {'head.fc.weight', 'head.fc.bias'}


def _own(method, name):
    return {
        'linear': lambda n: False,
        'lora': lambda n: '.lora_' in n,
        'vpt': lambda n: n == 'backbone.prompts',
        'full': lambda n: True,
    }[method](
        name)


@pytest.mark.parametrize('method', ['linear', 'lora', 'vpt', 'full'])
@pytest.mark.parametrize('size', [
    'ecvit-mini-p8_fewshot-{}_ecnbi-demo-64px',
    'ecvit-base-p16_ecdl-pre_fewshot-{}_ecnbi'
])
def test_trainable_parameters(repo_root, size, method):
    name = size.format(method)
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs', 'fewshot', f'{name}.py'))
    assert cfg.train_dataloader.dataset.type == 'FewShotECNBIDataset'
    assert cfg.train_dataloader.dataset.subset == 'support'
    assert cfg.test_dataloader.dataset.subset == 'query'
    assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
    # build without the source checkpoint (not in the repository)
    backbone = cfg.model.backbone
    vit = backbone.module if backbone.type == 'LoRAModel' else backbone
    if 'base' in name:
        assert vit.init_cfg.type == 'Pretrained'
        assert vit.init_cfg.prefix == 'backbone.'
    vit.init_cfg = None
    model = MODELS.build(cfg.model)
    names = [n for n, _ in model.named_parameters()]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    expect = {n for n in names if _own(method, n)} | HEAD
    assert trainable == expect
    if method != 'full':
        assert len(trainable) < len(names)
    size_px = cfg.model.backbone.get('img_size') or vit.img_size
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, 3, size_px, size_px), mode='tensor')
    assert out.shape == (1, 3)
    model.train()
    if method == 'linear':
        # frozen layers stay in eval mode (no dropout / drop path)
        assert not model.backbone.layers[0].training

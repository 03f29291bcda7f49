# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The grouped constructors against the per-parameter ones they replace:
fewer param groups, the same optimizer steps (1e-6) under the same lr
schedule, with AdamW single-tensor (before) vs foreach / fused (after)."""
import copy
from types import SimpleNamespace

import pytest
import torch
from helpers import TINY_VIT_ARCH
from mmengine.optim import LinearLR
from mmpretrain.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

import ecdl_mm  # noqa: F401
from ecdl_mm.engine.optimizers import merge_param_groups, wants_fused

ADAMW = dict(
    type='AdamW', lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)


def _tiny_vit():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='ECViT',
                arch=TINY_VIT_ARCH,
                img_size=32,
                patch_size=8,
                drop_path_rate=0.,
                out_type='avg_featmap'),
            head=dict(
                type='LinearClsHead',
                num_classes=3,
                in_channels=TINY_VIT_ARCH['embed_dims'])))
    model.init_weights()
    return model


def _build(constructor, model, paramwise_cfg, **optimizer):
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type=constructor,
            optim_wrapper_cfg=dict(
                type='OptimWrapper', optimizer=dict(ADAMW, **optimizer)),
            paramwise_cfg=paramwise_cfg))(
                model)


def _lr_of(optim_wrapper):
    """lr and weight decay of every parameter, by identity."""
    return {
        id(p): (g['lr'], g['weight_decay'])
        for g in optim_wrapper.optimizer.param_groups
        for p in g['params']
    }


def _train(model, optim_wrapper, steps=6):
    """A few AdamW steps under a warm-up schedule on fixed batches."""
    scheduler = LinearLR(
        optim_wrapper.optimizer, start_factor=0.1, end=steps, by_epoch=False)
    gen = torch.Generator().manual_seed(1)
    lrs = []
    for _ in range(steps):
        x = torch.randn(4, 3, 32, 32, generator=gen)
        loss = model(x, mode='tensor').logsumexp(1).mean()
        optim_wrapper.update_params(loss)
        scheduler.step()
        lr = _lr_of(optim_wrapper)
        lrs += [lr[id(p)][0] for p in model.parameters()]
    return lrs


@pytest.mark.parametrize('impl', [dict(foreach=True), dict(fused=True)])
def test_layer_decay_groups_merged_same_steps(impl):
    paramwise = dict(layer_decay_rate=0.75, flat_decay_mult=0.0)
    before_model = _tiny_vit()
    after_model = copy.deepcopy(before_model)
    before = _build(
        'LearningRateDecayOptimWrapperConstructor',
        before_model,
        paramwise,
        foreach=False)
    after = _build('GroupedLayerDecayOptimWrapperConstructor', after_model,
                   paramwise, **impl)
    params = list(before_model.parameters())
    # mmpretrain: one group per parameter; ours: one per (layer, decay).
    assert len(before.optimizer.param_groups) == len(params)
    distinct = {(g['layer_id'], g['weight_decay'])
                for g in before.optimizer.param_groups}
    assert len(after.optimizer.param_groups) == len(distinct) < len(params)
    # every parameter keeps its lr and weight decay
    by_name = dict(before_model.named_parameters())
    old = _lr_of(before)
    for g in after.optimizer.param_groups:
        assert len(g['param_names']) == len(g['params'])
        for name, p in zip(g['param_names'], g['params']):
            assert p is dict(after_model.named_parameters())[name]
            assert (g['lr'], g['weight_decay']) == old[id(by_name[name])]

    lrs_before = _train(before_model, before)
    lrs_after = _train(after_model, after)
    assert lrs_before == pytest.approx(lrs_after, rel=1e-12)
    for (name, a), b in zip(before_model.named_parameters(),
                            after_model.parameters()):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6, msg=name)
    # the steps did move the weights (the comparison is not vacuous)
    start = _tiny_vit()
    assert max(
        float((a - s).detach().abs().max())
        for a, s in zip(before_model.parameters(), start.parameters())) > 1e-4


def test_default_constructor_groups_merged_same_steps():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.GELU(),
        torch.nn.Linear(16, 3))
    net.token = torch.nn.Parameter(torch.randn(3))
    paramwise = dict(
        flat_decay_mult=0.0, custom_keys={'token': dict(decay_mult=0.)})
    other = copy.deepcopy(net)
    before = _build('DefaultOptimWrapperConstructor', net, paramwise)
    after = _build('GroupedOptimWrapperConstructor', other, paramwise)
    assert len(before.optimizer.param_groups) == 7
    # the custom key's group (first: it is registered first), decayed
    # weights, 1-D without decay
    assert [len(g['params'])
            for g in after.optimizer.param_groups] == [1, 2, 4]
    gen = torch.Generator().manual_seed(2)
    for _ in range(5):
        x = torch.randn(6, 8, generator=gen)
        for model, ow in ((net, before), (other, after)):
            ow.update_params(
                (model(x).sum(1) * model.token.sum()).pow(2).mean())
    for a, b in zip(net.parameters(), other.parameters()):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)


def test_merge_keeps_order_and_names():
    a, b, c = (torch.nn.Parameter(torch.zeros(1)) for _ in range(3))
    groups = merge_param_groups([
        dict(params=[a], lr=1., param_name='a'),
        dict(params=[b], lr=2., param_name='b', betas=[0.9, 0.99]),
        dict(params=[c], lr=1., param_name='c'),
    ])
    assert [g['param_names'] for g in groups] == [['a', 'c'], ['b']]
    assert groups[0]['params'][0] is a and groups[0]['params'][1] is c
    assert groups[1]['betas'] == [0.9, 0.99] and groups[1]['lr'] == 2.


def _fake(cuda=True, floating=True, grad=True):
    return SimpleNamespace(
        is_cuda=cuda, is_floating_point=lambda: floating, requires_grad=grad)


@pytest.mark.parametrize('cfg,params,expected', [
    (dict(type='AdamW'), [_fake(), _fake(grad=False, cuda=False)], True),
    (dict(type='Adam'), [_fake()], True),
    (dict(type='AdamW'), [_fake(), _fake(cuda=False)], False),
    (dict(type='AdamW', foreach=True), [_fake()], False),
    (dict(type='AdamW', fused=False), [_fake()], False),
    (dict(type='SGD'), [_fake()], False),
    (dict(type='AdamW'), [], False),
])
def test_fused_only_on_cuda_when_not_chosen(cfg, params, expected):
    assert wants_fused(cfg, params) is expected


def test_cpu_model_is_not_fused():
    ow = _build('GroupedLayerDecayOptimWrapperConstructor', _tiny_vit(),
                dict(layer_decay_rate=0.75))
    assert not ow.optimizer.defaults['fused']

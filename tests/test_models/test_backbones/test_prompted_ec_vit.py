# Copyright (c) ecdl_mm contributors. All rights reserved.
"""PromptedECViT (visual prompt tuning) and LoRA on ECViT: zero prompts are
ECViT; an optimizer step changes only the adapter's own parameters."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS

from ecdl_mm.models.backbones import ECViT, PromptedECViT

ARCH = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)
TINY = dict(arch=ARCH, img_size=32, patch_size=8)


@pytest.mark.parametrize('out_type', ['avg_featmap', 'featmap', 'raw'])
@pytest.mark.parametrize('final_norm', [False, True])
def test_zero_prompts_is_ecvit(out_type, final_norm):
    torch.manual_seed(0)
    ref = ECViT(
        **TINY, out_type=out_type, final_norm=final_norm, out_indices=(1, 2))
    ref.init_weights()
    vpt = PromptedECViT(
        **TINY,
        out_type=out_type,
        final_norm=final_norm,
        out_indices=(1, 2),
        num_prompts=0)
    # the same parameters, nothing more, and the same state dict keys
    assert list(vpt.state_dict()) == list(ref.state_dict())
    vpt.load_state_dict(ref.state_dict(), strict=True)
    assert all(p.requires_grad for p in vpt.parameters())
    ref.eval(), vpt.eval()
    x = torch.randn(2, 3, 32, 32)
    for a, b in zip(ref(x), vpt(x)):
        assert torch.equal(a, b)


@pytest.mark.parametrize('deep', [True, False])
def test_prompts_change_the_output_not_its_shape(deep):
    torch.manual_seed(0)
    ref = ECViT(**TINY, out_type='featmap')
    ref.init_weights()
    vpt = PromptedECViT(
        **TINY, out_type='featmap', num_prompts=3, deep_prompts=deep)
    vpt.init_weights()
    missing = vpt.load_state_dict(ref.state_dict(), strict=False)
    assert missing.missing_keys == ['prompts']
    assert vpt.prompts.shape == (3 if deep else 1, 3, 32)
    x = torch.randn(2, 3, 32, 32)
    a, b = ref(x)[0], vpt(x)[0]
    assert a.shape == b.shape == (2, 32, 4, 4)
    assert not torch.allclose(a, b)
    # by hand: shallow = the prompts concatenated once before layer 0
    if not deep:
        t, hw = ref.embed(x)
        t = torch.cat([vpt.prompts[0].expand(2, -1, -1), t], 1)
        for layer in ref.layers:
            t = layer(t)
        expect = t[:, 3:].reshape(2, *hw, -1).permute(0, 3, 1, 2)
        torch.testing.assert_close(b, expect)


def _classifier(backbone):
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=backbone,
            head=dict(
                type='LinearClsHead',
                num_classes=3,
                in_channels=32,
                loss=dict(type='CrossEntropyLoss'))))


def _step_and_compare(model, own):
    """One AdamW step (weight decay on) on a random batch; the names of
    the parameters that changed."""
    model.init_weights()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    wrapper = build_optim_wrapper(
        model, dict(optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05)))
    x = torch.randn(4, 3, 32, 32)
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(i % 3) for i in range(4)]
    wrapper.update_params(model.loss(x, samples)['loss'])
    changed = {
        k
        for k, v in model.named_parameters()
        if not torch.equal(v.detach(), before[k])
    }
    trainable = {k for k, v in model.named_parameters() if v.requires_grad}
    assert changed == trainable  # every trainable one moved, nothing else
    assert all(own(k) or k.startswith('head.') for k in changed)
    assert any(own(k) for k in changed)
    return changed


def test_prompt_tuning_trains_only_the_prompts():
    torch.manual_seed(0)
    model = _classifier(dict(type='PromptedECViT', **TINY, num_prompts=2))
    changed = _step_and_compare(model, lambda k: k == 'backbone.prompts')
    assert changed == {'backbone.prompts', 'head.fc.weight', 'head.fc.bias'}


def test_lora_trains_only_its_own_parameters():
    torch.manual_seed(0)
    # QVBiasAttention reads qkv.weight directly, so LoRA targets the
    # attention output projection and the MLP
    model = _classifier(
        dict(
            type='LoRAModel',
            module=dict(type='ECViT', **TINY),
            alpha=4,
            rank=2,
            targets=[
                dict(type='attn.proj'),
                dict(type='ffn.layers.0.0'),
                dict(type='ffn.layers.1')
            ]))
    changed = _step_and_compare(model, lambda k: '.lora_' in k)
    # lora_up and lora_down of each of the 3 targets in 3 layers
    assert len([k for k in changed if '.lora_' in k]) == 18

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""tools/model_converters: one small checkpoint per format, built here."""
import argparse

import pytest
import torch
from helpers import (IMG, TINY_VIT_ARCH, check_logits, ecvit_classifier,
                     to_timm_keys)
from mmengine.runner import load_checkpoint

import ecdl_mm  # noqa: F401
from ecdl_mm.models.utils.model_converter import convert_file

ARCH = TINY_VIT_ARCH


def test_mmpretrain_checkpoint(tmp_path, mmpretrain_vit):
    src, dst = tmp_path / 'src.pth', tmp_path / 'dst.pth'
    torch.save({'state_dict': mmpretrain_vit.state_dict(), 'meta': {}}, src)
    with pytest.warns(UserWarning, match='pos_embed dropped'):
        meta = convert_file(str(src), str(dst), 'mmpretrain')
    assert meta['keys'] == dict(missing=[], unexpected=[], shape_mismatch=[])
    assert meta['num_classes'] == 3
    assert meta['backbone']['arch']['num_layers'] == 2
    check_logits(dst, mmpretrain_vit)


def test_timm_checkpoint(tmp_path, mmpretrain_vit):
    src, dst = tmp_path / 'timm.pth', tmp_path / 'dst.pth'
    torch.save(to_timm_keys(mmpretrain_vit), src)  # timm: a bare state dict
    with pytest.warns(UserWarning, match='cls_token dropped'):
        meta = convert_file(str(src), str(dst), 'timm')
    assert not meta['keys']['missing'] and not meta['keys']['unexpected']
    assert any('pos_embed' in d for d in meta['report']['dropped'])
    check_logits(dst, mmpretrain_vit)


def test_timm_layer_scale_keys(tmp_path, mmpretrain_vit):
    sd = to_timm_keys(mmpretrain_vit)
    for i in range(2):
        sd[f'blocks.{i}.ls1.gamma'] = torch.full((32, ), 0.5)
        sd[f'blocks.{i}.ls2.gamma'] = torch.full((32, ), 0.25)
    src, dst = tmp_path / 'timm_ls.pth', tmp_path / 'dst.pth'
    torch.save(sd, src)
    meta = convert_file(str(src), str(dst), 'timm')
    assert meta['backbone']['init_values'] > 0
    model = ecvit_classifier(init_values=0.1)
    load_checkpoint(model, str(dst), strict=True)
    assert torch.all(model.backbone.layers[1].gamma_2 == 0.25)


def test_mae_finetune_and_pretrain_checkpoints(tmp_path, mmpretrain_vit):
    ft = to_timm_keys(mmpretrain_vit)
    src, dst = tmp_path / 'mae_ft.pth', tmp_path / 'dst.pth'
    torch.save({'model': ft, 'epoch': 99}, src)
    convert_file(str(src), str(dst), 'mae')
    check_logits(dst, mmpretrain_vit)

    # pre-training file: encoder + final norm + FAIR decoder, no head
    pt = {k: v for k, v in ft.items() if not k.startswith(('head', 'fc_'))}
    pt.update({
        'norm.weight': torch.ones(32),
        'norm.bias': torch.zeros(32),
        'mask_token': torch.zeros(1, 1, 16),
        'decoder_embed.weight': torch.zeros(16, 32),
        'decoder_blocks.0.attn.qkv.weight': torch.zeros(48, 16),
        'decoder_pred.weight': torch.zeros(768, 16),
    })
    torch.save({'model': pt}, src)
    meta = convert_file(str(src), str(dst), 'mae')
    sd = torch.load(dst, weights_only=True)['state_dict']
    assert all(k.startswith('backbone.') for k in sd)
    assert 'backbone.ln1.weight' in sd and 'num_classes' not in meta
    assert meta['keys']['missing'] == [
        'backbone.ln2.bias', 'backbone.ln2.weight'
    ]
    assert sum('decoder' in d for d in meta['report']['dropped']) == 3
    # encoder-only file through init_cfg Pretrained with a prefix
    model = ecvit_classifier(
        init_cfg=dict(
            type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    model.init_weights()
    torch.testing.assert_close(
        model.backbone.layers[1].ffn.layers[1].weight,
        mmpretrain_vit.backbone.layers[1].ffn.layers[1].weight)


def release_checkpoint():
    torch.manual_seed(1)
    model = ecvit_classifier()
    sd = {}
    for k, v in model.state_dict().items():
        k = k.replace('backbone.', '').replace('head.fc.', 'head.')
        k = k.replace('patch_embed.projection', 'patch_embed.proj')
        k = k.replace('ffn.layers.0.0', 'mlp.fc1')
        k = k.replace('ffn.layers.1', 'mlp.fc2')
        k = k.replace('layers.', 'blocks.').replace('.ln1.', '.norm1.')
        k = k.replace('.ln2.', '.norm2.')
        if k.startswith('ln2.'):
            k = 'fc_norm.' + k[4:]
        sd[k] = v + 0.01 * torch.randn_like(v)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(1, 3, IMG, IMG), mode='tensor').sum().backward()
    opt.step()
    return {
        'model': sd,
        'optimizer': opt.state_dict(),
        'epoch': 7,
        'args': argparse.Namespace(model='vit_base_patch16_224', lr=1e-3),
    }


def test_ecdl_release_checkpoint_cli(tmp_path, run_script):
    ckpt = release_checkpoint()
    src, dst = tmp_path / 'checkpoint-best.pth', tmp_path / 'ecdl.pth'
    torch.save(ckpt, src)
    out = run_script(
        ['tools/model_converters/ecdl_to_mmpretrain.py', src, dst],
        cwd=tmp_path)
    assert 'missing keys (0)' in out.stdout
    assert 'unexpected keys (0)' in out.stdout
    model = ecvit_classifier()
    load_checkpoint(model, str(dst), strict=True)
    torch.testing.assert_close(model.backbone.layers[0].attn.q_bias.detach(),
                               ckpt['model']['blocks.0.attn.q_bias'])
    torch.testing.assert_close(model.backbone.ln2.weight.detach(),
                               ckpt['model']['fc_norm.weight'])
    torch.testing.assert_close(model.head.fc.weight.detach(),
                               ckpt['model']['head.weight'])


class Evil:

    def __reduce__(self):
        return (print, ('pwned', ))


def test_refuses_arbitrary_pickles(tmp_path):
    src = tmp_path / 'evil.pth'
    torch.save({'model': {}, 'payload': Evil()}, src)
    with pytest.raises(Exception, match='(?i)unsafe|weights_only|global'):
        convert_file(str(src), str(tmp_path / 'out.pth'), 'ecdl')
    assert not (tmp_path / 'out.pth').exists()


def test_bad_format_and_not_a_vit(tmp_path):
    src = tmp_path / 'x.pth'
    torch.save({'model': {'fc.weight': torch.zeros(2, 2)}}, src)
    with pytest.raises(ValueError, match="format 'onnx'"):
        convert_file(str(src), str(tmp_path / 'o.pth'), 'onnx')
    with pytest.raises(ValueError, match='no patch embedding'):
        convert_file(str(src), str(tmp_path / 'o.pth'), 'timm')

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Stage 1 of EC-DL: public self-supervised ViT weights (MAE, MoCo v3,
DINOv2 from mmpretrain) load by URL into the ECMAE encoder of the stage-1
configs.

No download at test time: each test writes a tiny checkpoint in the layout
of the published file (the state dict of the very mmpretrain model that
saved it, under ``state_dict`` with a ``meta`` dict, plus DINOv2's
``backbone.mask_token``, which mmpretrain's DINOv2 files carry, see
open-mmlab/mmpretrain#1618), points the config's ``init_cfg`` at it and
checks every encoder tensor against the source.
"""
import os.path as osp

import pytest
import torch
from helpers import TINY_VIT_ARCH
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401
from ecdl_mm.models.utils import build_1d_sincos_position_embedding

TINY = TINY_VIT_ARCH
STAGE1 = {
    'mae': 'ecmae_vit-base-p16_mae-1600e-pre_headless.py',
    'mocov3': 'ecmae_vit-base-p16_mocov3-300e-pre_headless.py',
    'dinov2': 'ecmae_vit-base-p14_dinov2-pre_headless.py',
}
# The published file each stage-1 config loads (mmpretrain's metafiles).
URLS = {
    'mae':
    'https://download.openmmlab.com/mmselfsup/1.x/mae/'
    'mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k/'
    'mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k_20220825-f7569ca2.pth',
    'mocov3':
    'https://download.openmmlab.com/mmselfsup/1.x/mocov3/'
    'mocov3_vit-base-p16_16xb256-amp-coslr-300e_in1k/'
    'mocov3_vit-base-p16_16xb256-amp-coslr-300e_in1k-224_20220826-'
    '25213343.pth',
    'dinov2':
    'https://download.openmmlab.com/mmpretrain/v1.0/dinov2/'
    'vit-base-p14_dinov2-pre_3rdparty_20230426-ba246503.pth',
}
PATCH = dict(mae=16, mocov3=16, dinov2=14)
# Keys every published file of that kind has, for the tiny 2-layer model
# (written from mmpretrain's module names; the model below must agree).
LAYOUT = {
    'mae': [
        'backbone.cls_token', 'backbone.pos_embed',
        'backbone.patch_embed.projection.weight',
        'backbone.layers.1.attn.qkv.bias', 'backbone.ln1.weight',
        'neck.mask_token', 'neck.decoder_pos_embed',
        'neck.decoder_embed.weight', 'neck.decoder_pred.weight'
    ],
    'mocov3': [
        'backbone.cls_token', 'backbone.pos_embed',
        'backbone.layers.0.attn.qkv.bias',
        'backbone.layers.1.ffn.layers.1.weight', 'backbone.ln1.bias',
        'neck.fc0.weight', 'neck.bn0.running_mean',
        'head.predictor.fc0.weight',
        'momentum_encoder.module.0.layers.0.attn.qkv.weight',
        'momentum_encoder.steps'
    ],
    'dinov2': [
        'backbone.cls_token', 'backbone.pos_embed', 'backbone.mask_token',
        'backbone.layers.0.attn.gamma1.weight',
        'backbone.layers.1.ffn.gamma2.weight',
        'backbone.layers.1.attn.qkv.bias', 'backbone.ln1.weight'
    ],
}
# Source encoder keys that ECViT has no place for, and why.
NOT_LOADED = {
    'cls_token': 'no class token',
    'pos_embed': 'fixed 1-D sin-cos table instead',
    'mask_token': 'DINOv2 mask token',
}


def published_model(kind):
    """The mmpretrain model whose state dict the published file holds."""
    img = 2 * PATCH[kind]
    if kind == 'mae':
        cfg = dict(
            type='MAE',
            backbone=dict(
                type='MAEViT',
                arch=TINY,
                img_size=img,
                patch_size=16,
                mask_ratio=0.75),
            neck=dict(
                type='MAEPretrainDecoder',
                num_patches=4,
                patch_size=16,
                embed_dim=32,
                decoder_embed_dim=16,
                decoder_depth=1,
                decoder_num_heads=2),
            head=dict(
                type='MAEPretrainHead',
                norm_pix=True,
                patch_size=16,
                loss=dict(type='PixelReconstructionLoss', criterion='L2')))
    elif kind == 'mocov3':
        mlp = dict(
            type='NonLinearNeck',
            hid_channels=64,
            out_channels=16,
            with_bias=False,
            with_last_bn=True,
            with_last_bn_affine=False,
            with_last_bias=False,
            with_avg_pool=False)
        cfg = dict(
            type='MoCoV3',
            backbone=dict(
                type='MoCoV3ViT',
                arch=TINY,
                img_size=img,
                patch_size=16,
                stop_grad_conv1=True),
            neck=dict(in_channels=32, num_layers=3, **mlp),
            head=dict(
                type='MoCoV3Head',
                predictor=dict(in_channels=16, num_layers=2, **mlp),
                loss=dict(type='CrossEntropyLoss', loss_weight=0.4),
                temperature=0.2))
    else:
        cfg = dict(
            type='ImageClassifier',
            backbone=dict(
                type='VisionTransformer',
                arch=TINY,
                img_size=img,
                patch_size=14,
                layer_scale_init_value=1e-5),
            neck=None,
            head=None)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    with torch.no_grad():
        # Non-trivial values everywhere, key biases included (MoCo v3 and
        # DINOv2 train them; their k part must be harmless once dropped).
        for name, p in model.named_parameters():
            scale = name.endswith(('gamma1.weight', 'gamma2.weight'))
            if p.dim() == 1 or scale:
                p.copy_(torch.randn_like(p))
    return model


def write_published(kind, path):
    model = published_model(kind)
    state = model.state_dict()
    if kind == 'dinov2':
        # kept by mmpretrain's conversion of the DINOv2 release
        state['backbone.mask_token'] = torch.zeros(1, 32)
    for key in LAYOUT[kind]:
        assert key in state, f'{kind}: {key} not in the published layout'
    torch.save(
        dict(
            meta=dict(mmengine_version='0.10.7', epoch=300), state_dict=state),
        path)
    return model, state


def load_stage1(repo_root, kind, checkpoint):
    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'ecdl', STAGE1[kind]))
    init_default_scope('mmpretrain')
    init = cfg.model.backbone.init_cfg
    assert (init.type, init.prefix) == ('Pretrained', 'backbone.')
    assert init.checkpoint == URLS[kind]
    assert cfg.model.backbone.patch_size == PATCH[kind]
    assert cfg.model.neck.patch_size == cfg.model.head.patch_size == \
        PATCH[kind]
    # the tiny size of the test checkpoint, everything else as configured
    cfg.model.backbone.arch = TINY
    cfg.model.backbone.img_size = 2 * PATCH[kind]
    cfg.model.neck.embed_dims = 32
    cfg.model.neck.decoder_embed_dims = 16
    cfg.model.neck.decoder_num_layers = 1
    cfg.model.neck.decoder_num_heads = 2
    init.checkpoint = str(checkpoint)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.mark.parametrize('kind', sorted(STAGE1))
def test_published_weights_land_in_the_encoder(repo_root, tmp_path, kind):
    ckpt = tmp_path / f'{kind}.pth'
    _, src = write_published(kind, ckpt)
    model = load_stage1(repo_root, kind, ckpt)
    dst = model.backbone.state_dict()
    C = 32
    compared, skipped = set(), set()
    for key, value in src.items():
        if not key.startswith('backbone.'):
            continue  # decoder, projector, predictor, momentum encoder
        name = key[len('backbone.'):]
        if name in NOT_LOADED:
            skipped.add(name)
            continue
        if name.endswith('attn.qkv.bias'):
            layer = name[:-len('qkv.bias')]
            torch.testing.assert_close(dst[layer + 'q_bias'], value[:C])
            torch.testing.assert_close(dst[layer + 'v_bias'], value[2 * C:])
            assert value[C:2 * C].abs().min() > 0  # a real key bias dropped
        elif name.endswith('attn.gamma1.weight'):
            torch.testing.assert_close(
                dst[name.replace('attn.gamma1.weight', 'gamma_1')], value)
        elif name.endswith('ffn.gamma2.weight'):
            torch.testing.assert_close(
                dst[name.replace('ffn.gamma2.weight', 'gamma_2')], value)
        else:
            torch.testing.assert_close(dst[name], value, msg=key)
        compared.add(name)
    # every encoder tensor of ours came from the file
    ours = set(dst) - {'pos_embed'}
    loaded = {k.replace('attn.qkv.bias', 'attn.q_bias') for k in compared}
    loaded |= {k.replace('attn.qkv.bias', 'attn.v_bias') for k in compared}
    loaded = {
        k.replace('attn.gamma1.weight',
                  'gamma_1').replace('ffn.gamma2.weight', 'gamma_2')
        for k in loaded
    }
    assert ours <= loaded, sorted(ours - loaded)
    assert skipped == ({'cls_token', 'pos_embed', 'mask_token'}
                       if kind == 'dinov2' else {'cls_token', 'pos_embed'})
    # the position table is ECViT's fixed 1-D one, not the file's
    n = model.backbone.pos_embed.shape[1]
    torch.testing.assert_close(model.backbone.pos_embed,
                               build_1d_sincos_position_embedding(n, C))
    if kind == 'dinov2':
        assert model.backbone.patch_embed.projection.kernel_size == (14, 14)
        assert model.neck.head.weight.shape[0] == 14 * 14 * 3


@pytest.mark.parametrize('kind', ['mocov3', 'dinov2'])
def test_dropping_the_key_bias_is_exact(repo_root, tmp_path, kind):
    """softmax_j(q . (k_j + b)) = softmax_j(q . k_j): the dropped key bias
    changes no output of the encoder layers."""
    ckpt = tmp_path / f'{kind}.pth'
    src_model, _ = write_published(kind, ckpt)
    ours = load_stage1(repo_root, kind, ckpt).backbone
    theirs = src_model.backbone
    ours.eval()  # (mmpretrain's train() returns None: no chaining)
    theirs.eval()
    x = torch.randn(2, 5, 32)
    C = 32
    with torch.no_grad():
        k_bias = theirs.layers[0].attn.qkv.bias[C:2 * C]
        k_bias.mul_(10)  # large on purpose
        for i in range(2):
            torch.testing.assert_close(
                ours.layers[i](x), theirs.layers[i](x), atol=1e-5, rtol=1e-5)
        # The key bias moves the attention logits a lot, yet not the
        # attention: per query the shift q . b_k is the same for every key.
        qkv = theirs.layers[0].attn.qkv(theirs.layers[0].ln1(x))
        q, k = qkv[..., :16], qkv[..., C:C + 16]  # head 0, 16 wide
        with_b = q @ k.transpose(-2, -1) / 4
        without_b = q @ (k - k_bias[:16]).transpose(-2, -1) / 4
        assert (with_b - without_b).abs().max() > 1
        torch.testing.assert_close(
            with_b.softmax(-1), without_b.softmax(-1), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('kind', sorted(STAGE1))
def test_stage2_starts_from_the_stage1_config(repo_root, kind):
    stage2 = {
        'mae': 'ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py',
        'mocov3': 'ecmae_vit-base-p16_mocov3-pre_8xb16-amp-coslr-20e_ecnbi.py',
        'dinov2': 'ecmae_vit-base-p14_dinov2-pre_8xb16-amp-coslr-20e_ecnbi.py',
    }[kind]
    root = osp.join(repo_root, 'configs', 'ecdl')
    one = Config.fromfile(osp.join(root, STAGE1[kind]))
    two = Config.fromfile(osp.join(root, stage2))
    assert two.model.to_dict() == one.model.to_dict()
    assert two.get('load_from') is None  # the encoder comes by init_cfg

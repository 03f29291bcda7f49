# Copyright (c) ecdl_mm contributors. All rights reserved.
"""ECViT: parity with a hand-written EC-DL reference, shapes, freeze, init."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.engine.optimizers import \
    LearningRateDecayOptimWrapperConstructor
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401

TINY = dict(embed_dims=48, num_layers=3, num_heads=3, feedforward_channels=96)


# ----------------------------------------------------------------------------
# Reference forward of the EC-DL release's ViT, on weights named as in its
# checkpoints (patch_embed.proj, blocks.N.{norm1,attn,norm2,mlp,gamma_1,
# gamma_2}, fc_norm, head). The architecture facts it encodes (EC-DL paper and
# public release): no class token; a fixed 1-D sinusoid position table over
# the token index (sin on dims 2i, cos on 2i+1, base 10000); attention with a
# bias-free qkv linear plus learnt q_bias / v_bias (zero key bias), scale
# head_dim ** -0.5; pre-norm blocks, LayerNorm eps 1e-6, GELU MLP, optional
# layer scale; mean of all tokens, then fc_norm, then the linear head. It
# shares no code with ecdl_mm.
def ref_sinusoid_table(n_position, d_hid):
    table = np.array(
        [[pos / np.power(10000, 2 * (j // 2) / d_hid) for j in range(d_hid)]
         for pos in range(n_position)])
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return torch.tensor(table, dtype=torch.float32)[None]


def ref_forward(sd, x, num_heads, patch_size, num_layers, eps=1e-6):
    x = F.conv2d(
        x,
        sd['patch_embed.proj.weight'],
        sd['patch_embed.proj.bias'],
        stride=patch_size)
    x = x.flatten(2).transpose(1, 2)
    B, N, C = x.shape
    x = x + ref_sinusoid_table(N, C)
    for i in range(num_layers):
        p = f'blocks.{i}.'
        h = F.layer_norm(x, (C, ), sd[p + 'norm1.weight'],
                         sd[p + 'norm1.bias'], eps)
        bias = torch.cat([
            sd[p + 'attn.q_bias'],
            torch.zeros_like(sd[p + 'attn.q_bias']), sd[p + 'attn.v_bias']
        ])
        qkv = F.linear(h, sd[p + 'attn.qkv.weight'], bias)
        qkv = qkv.reshape(B, N, 3, num_heads, C // num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        q = q * (C // num_heads)**-0.5
        attn = (q @ k.transpose(-2, -1)).softmax(-1)
        h = (attn @ v).transpose(1, 2).reshape(B, N, C)
        h = F.linear(h, sd[p + 'attn.proj.weight'], sd[p + 'attn.proj.bias'])
        if p + 'gamma_1' in sd:
            h = sd[p + 'gamma_1'] * h
        x = x + h
        h = F.layer_norm(x, (C, ), sd[p + 'norm2.weight'],
                         sd[p + 'norm2.bias'], eps)
        h = F.linear(h, sd[p + 'mlp.fc1.weight'], sd[p + 'mlp.fc1.bias'])
        h = F.gelu(h)
        h = F.linear(h, sd[p + 'mlp.fc2.weight'], sd[p + 'mlp.fc2.bias'])
        if p + 'gamma_2' in sd:
            h = sd[p + 'gamma_2'] * h
        x = x + h
    feat = F.layer_norm(
        x.mean(1), (C, ), sd['fc_norm.weight'], sd['fc_norm.bias'], eps)
    logits = F.linear(feat, sd['head.weight'], sd['head.bias'])
    return feat, logits


def make_release_state_dict(embed_dims,
                            num_layers,
                            hidden,
                            patch_size,
                            num_classes,
                            layer_scale,
                            seed=0):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=0.1):
        return torch.randn(*shape, generator=g) * scale

    C = embed_dims
    sd = {
        'patch_embed.proj.weight': rnd(C, 3, patch_size, patch_size),
        'patch_embed.proj.bias': rnd(C),
        'fc_norm.weight': 1 + rnd(C),
        'fc_norm.bias': rnd(C),
        'head.weight': rnd(num_classes, C),
        'head.bias': rnd(num_classes),
    }
    for i in range(num_layers):
        p = f'blocks.{i}.'
        sd.update({
            p + 'norm1.weight': 1 + rnd(C),
            p + 'norm1.bias': rnd(C),
            p + 'attn.q_bias': rnd(C),
            p + 'attn.v_bias': rnd(C),
            p + 'attn.qkv.weight': rnd(3 * C, C),
            p + 'attn.proj.weight': rnd(C, C),
            p + 'attn.proj.bias': rnd(C),
            p + 'norm2.weight': 1 + rnd(C),
            p + 'norm2.bias': rnd(C),
            p + 'mlp.fc1.weight': rnd(hidden, C),
            p + 'mlp.fc1.bias': rnd(hidden),
            p + 'mlp.fc2.weight': rnd(C, hidden),
            p + 'mlp.fc2.bias': rnd(C),
        })
        if layer_scale:
            sd[p + 'gamma_1'] = 0.5 + rnd(C)
            sd[p + 'gamma_2'] = 0.5 + rnd(C)
    return sd


def build_classifier(arch, patch_size=16, img_size=64, num_classes=3, **kw):
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='ECViT',
                arch=arch,
                img_size=img_size,
                patch_size=patch_size,
                **kw),
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=arch['embed_dims'])))
    return model.eval()


@pytest.mark.parametrize('layer_scale,hw', [(False, (64, 64)),
                                            (True, (48, 80))])
def test_parity_with_reference(layer_scale, hw):
    from ecdl_mm.models.utils.ckpt_convert import convert_ecdl
    arch = dict(TINY)
    ref_sd = make_release_state_dict(48, 3, 96, 16, 3, layer_scale)
    ckpt = {'model': ref_sd}
    sd, _ = convert_ecdl(ckpt)
    model = build_classifier(
        arch, init_values=0.1 if layer_scale else 0., img_size=64)
    missing, unexpected = model.load_state_dict(sd, strict=True)
    assert not missing and not unexpected
    x = torch.randn(2, 3, *hw)
    with torch.no_grad():
        feat_ref, logits_ref = ref_forward(ref_sd, x, 3, 16, 3)
        feat = model.extract_feat(x)[-1]
        logits = model(x, mode='tensor')
    assert feat.shape == (2, 48)
    torch.testing.assert_close(feat, feat_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits, logits_ref, atol=1e-5, rtol=1e-5)


def test_position_table_formula():
    from ecdl_mm.models.utils import build_1d_sincos_position_embedding
    table = build_1d_sincos_position_embedding(20, 10)
    torch.testing.assert_close(table, ref_sinusoid_table(20, 10))
    # spot value: token 3, dim 2i+1 with i=1 -> cos(3 / 10000**(2/10))
    assert math.isclose(
        table[0, 3, 3].item(), math.cos(3 / 10000**0.2), abs_tol=1e-6)
    with pytest.raises(ValueError, match='num_tokens=0'):
        build_1d_sincos_position_embedding(0, 8)


def test_presets_and_out_types():
    from ecdl_mm.models.backbones import ECViT

    # presets only checked for sizes (no forward on big models)
    with torch.device('meta'):
        for arch, dims, depth in [('tiny', 192, 12), ('small', 384, 12),
                                  ('base', 768, 12), ('large', 1024, 24)]:
            m = ECViT(arch=arch)
            assert m.embed_dims == dims and len(m.layers) == depth
        base = sum(p.numel() for p in ECViT('base').parameters())
        from mmpretrain.models import VisionTransformer
        vit = VisionTransformer('b', out_type='avg_featmap')
        vit_b = sum(p.numel() for p in vit.parameters())
    # mmpretrain's ViT-B minus class token, learnt positions, final norm and
    # the 12 key biases
    assert base == vit_b - 768 - 197 * 768 - 2 * 768 - 12 * 768

    x = torch.randn(2, 3, 32, 48)
    m = ECViT(TINY, img_size=32, out_type='featmap', out_indices=[0, -1])
    outs = m(x)
    assert len(outs) == 2 and outs[-1].shape == (2, 48, 2, 3)
    m = ECViT(TINY, img_size=32, out_type='raw')
    assert m(x)[0].shape == (2, 6, 48)
    assert not any('pos_embed' in k for k in m.state_dict())
    m = ECViT(TINY, img_size=32)
    assert m(x)[0].shape == (2, 48)
    assert m.num_extra_tokens == 0 and m.fc_norm is m.ln2


def test_invalid_arguments():
    from ecdl_mm.models.backbones import ECViT
    with pytest.raises(ValueError, match="arch='huge'"):
        ECViT('huge')
    with pytest.raises(ValueError, match='feedforward_channels'):
        ECViT(dict(embed_dims=32, num_layers=1, num_heads=2))
    with pytest.raises(ValueError, match="out_type='cls_token'"):
        ECViT(TINY, out_type='cls_token')
    with pytest.raises(ValueError, match='num_heads=5'):
        ECViT(dict(TINY, num_heads=5))
    with pytest.raises(ValueError, match='out_indices'):
        ECViT(TINY, out_indices=[3])
    m = ECViT(TINY, img_size=32)
    with pytest.raises(ValueError, match=r'\(32, 40\).*patch_size=16'):
        m(torch.randn(1, 3, 32, 40))


def test_frozen_stages():
    from ecdl_mm.models.backbones import ECViT
    m = ECViT(TINY, img_size=32, frozen_stages=2, drop_path_rate=0.1)
    m.train()
    assert not any(p.requires_grad for p in m.patch_embed.parameters())
    for i in range(2):
        assert not m.layers[i].training
        assert not any(p.requires_grad for p in m.layers[i].parameters())
    assert m.layers[2].training
    assert all(p.requires_grad for p in m.layers[2].parameters())
    assert all(p.requires_grad for p in m.ln2.parameters())
    # frozen layers really do not change under an optimiser step
    before = m.layers[0].attn.qkv.weight.clone()
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], 1.)
    m(torch.randn(2, 3, 32, 32))[0].sum().backward()
    opt.step()
    torch.testing.assert_close(m.layers[0].attn.qkv.weight, before)
    full = ECViT(TINY, img_size=32, frozen_stages=3)
    assert not any(p.requires_grad for p in full.parameters())


def test_layer_decay_constructor():
    model = build_classifier(dict(TINY), img_size=32)
    constructor = LearningRateDecayOptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05)),
        paramwise_cfg=dict(layer_decay_rate=0.5))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        optim_wrapper = constructor(model)
    lrs = {}
    for group in optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            lrs[id(p)] = group['lr']
    bb = model.backbone
    # depth 0 = patch embed, 1..3 = layers, 4 = norm and head
    assert lrs[id(bb.patch_embed.projection.weight)] == pytest.approx(0.5**4)
    assert lrs[id(bb.layers[0].attn.qkv.weight)] == pytest.approx(0.5**3)
    assert lrs[id(bb.layers[2].attn.qkv.weight)] == pytest.approx(0.5)
    assert lrs[id(model.head.fc.weight)] == pytest.approx(1.0)
    assert lrs[id(bb.ln2.weight)] == pytest.approx(1.0)


def test_vit_cls_head_and_pretrained_init(tmp_path):
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ECViT', arch=TINY, img_size=32),
            head=dict(
                type='VisionTransformerClsHead', num_classes=3,
                in_channels=48))).eval()
    x = torch.randn(2, 3, 32, 32)
    assert model(x, mode='tensor').shape == (2, 3)

    src = build_classifier(dict(TINY), img_size=32)
    src.init_weights()
    ckpt = tmp_path / 'ecvit.pth'
    torch.save({'state_dict': src.state_dict(), 'meta': {}}, ckpt)
    dst = build_classifier(
        dict(TINY),
        img_size=32,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    dst.init_weights()
    for k, v in src.backbone.state_dict().items():
        torch.testing.assert_close(dst.backbone.state_dict()[k], v)


def test_loads_mmpretrain_vit_weights_directly():
    """mmpretrain ViT weights (fused qkv bias, cls/pos) load via pre-hook."""
    from mmpretrain.models import VisionTransformer

    from ecdl_mm.models.backbones import ECViT
    vit = VisionTransformer(
        arch=dict(TINY),
        img_size=32,
        out_type='avg_featmap',
        with_cls_token=False,
        final_norm=False)
    sd = vit.state_dict()
    m = ECViT(TINY, img_size=32)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert not missing and not unexpected
    q, k, v = sd['layers.1.attn.qkv.bias'].chunk(3)
    torch.testing.assert_close(m.layers[1].attn.v_bias.detach(), v)
    torch.testing.assert_close(m.layers[1].attn.q_bias.detach(), q)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""An mmpretrain ViT equal to a tiny ECViT except for names, and checks.

The references of the converter and checkpoint-source tests: mmpretrain's
``VisionTransformer`` set up to compute what ``ECViT`` computes, its keys as
timm / FAIR name them, and a logits comparison after conversion.
"""
import numpy as np
import torch
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from .tiny_models import TINY_VIT_ARCH

IMG = 32


def sinusoid(n, d):
    t = np.array([[pos / np.power(10000, 2 * (j // 2) / d) for j in range(d)]
                  for pos in range(n)])
    t[:, 0::2] = np.sin(t[:, 0::2])
    t[:, 1::2] = np.cos(t[:, 1::2])
    return torch.tensor(t, dtype=torch.float32)[None]


def mmpretrain_reference_vit():
    """An mmpretrain ViT classifier equivalent to ECViT except for names.

    No class token, learnt position embedding set to the EC-DL table, random
    fused qkv bias (its key part must be harmless once dropped).
    """
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='VisionTransformer',
                arch=TINY_VIT_ARCH,
                img_size=IMG,
                patch_size=16,
                with_cls_token=False,
                out_type='avg_featmap',
                final_norm=False),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=32)))
    model.init_weights()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('bias') or 'ln' in name:
                p.add_(torch.randn_like(p) * 0.1)
        model.backbone.pos_embed.copy_(sinusoid(4, 32))
    return model.eval()


def to_timm_keys(model):
    """mmpretrain names -> timm / FAIR names (written from their docs)."""
    out = {}
    for k, v in model.state_dict().items():
        k = k.replace('backbone.', '').replace('head.fc.', 'head.')
        k = k.replace('patch_embed.projection', 'patch_embed.proj')
        k = k.replace('ffn.layers.0.0', 'mlp.fc1')
        k = k.replace('ffn.layers.1', 'mlp.fc2')
        k = k.replace('layers.', 'blocks.').replace('.ln1.', '.norm1.')
        k = k.replace('.ln2.', '.norm2.')
        if k.startswith('ln2.'):
            k = 'fc_norm.' + k[4:]
        if k == 'pos_embed':
            # timm / FAIR store the class-token slot too
            v = torch.cat([torch.zeros(1, 1, 32), v], dim=1)
        out[k] = v
    out['cls_token'] = torch.zeros(1, 1, 32)
    return out


def ecvit_classifier(**backbone_kw):
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='ECViT', arch=TINY_VIT_ARCH, img_size=IMG, **backbone_kw),
            head=dict(type='LinearClsHead', num_classes=3,
                      in_channels=32))).eval()


def check_logits(dst, ref_model):
    model = ecvit_classifier()
    load_checkpoint(model, str(dst), strict=True)
    x = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        torch.testing.assert_close(
            model(x, mode='tensor'),
            ref_model(x, mode='tensor'),
            atol=1e-5,
            rtol=1e-5)

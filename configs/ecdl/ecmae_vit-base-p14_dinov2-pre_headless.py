# EC-DL stage 1 with DINOv2 weights: the encoder starts from mmpretrain's
# conversion of the public self-supervised DINOv2 ViT-B/14 (LVD-142M), by URL.
# Patch 14: at 224 px the encoder sees 16x16 = 256 tokens, and the MAE
# decoder predicts 14x14 patches. Layer scale (init_values > 0 creates
# gamma_1 / gamma_2, loaded from DINOv2's). While loading, ECViT splits the
# fused qkv bias into q_bias / v_bias (the key bias is dropped, which is
# exact) and drops the class token, DINOv2's mask token and its LEARNT
# position embedding (37x37 + 1 tokens for 518 px): ECViT has a fixed 1-D
# sin-cos table, so the encoder meets positions it was not trained with and
# in-domain pre-training (stage 2) has to adapt it.
# Stage 2: ecmae_vit-base-p14_dinov2-pre_8xb16-amp-coslr-20e_ecnbi.py.
_base_ = ['../_base_/models/ecmae_vit-base-p16.py']

checkpoint = ('https://download.openmmlab.com/mmpretrain/v1.0/dinov2/'
              'vit-base-p14_dinov2-pre_3rdparty_20230426-ba246503.pth')
model = dict(
    backbone=dict(
        patch_size=14,
        init_values=1e-5,
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(patch_size=14),
    head=dict(patch_size=14))

# EC-DL stage 1 with MoCo v3 weights: the encoder starts from mmpretrain's
# public self-supervised ImageNet-1k MoCo v3 ViT-B/16 (300 epochs), by URL.
# While loading, ECViT splits the fused qkv bias into q_bias / v_bias (MoCo
# v3's key biases are non-zero; dropping them is exact, the softmax over keys
# ignores a term constant across keys) and drops the class token and the
# fixed 2-D sin-cos table (ECViT uses its fixed 1-D table). The projector,
# predictor and momentum encoder of the checkpoint are not loaded.
# Stage 2: ecmae_vit-base-p16_mocov3-pre_8xb16-amp-coslr-20e_ecnbi.py.
_base_ = ['../_base_/models/ecmae_vit-base-p16.py']

checkpoint = ('https://download.openmmlab.com/mmselfsup/1.x/mocov3/'
              'mocov3_vit-base-p16_16xb256-amp-coslr-300e_in1k/'
              'mocov3_vit-base-p16_16xb256-amp-coslr-300e_in1k-224_'
              '20220826-25213343.pth')
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))

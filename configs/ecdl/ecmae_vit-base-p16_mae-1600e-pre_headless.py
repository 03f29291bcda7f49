# EC-DL stage 1, generalized pre-training, default: the encoder starts from
# mmpretrain's public self-supervised ImageNet-1k MAE ViT-B/16 weights (1600
# epochs, the schedule of the FAIR MAE ViT-B the EC-DL release starts from),
# loaded by URL: no ImageNet run. The model is the EC-DL masked autoencoder
# (ECMAE, decoder 384 wide, 4 layers, 6 heads) whose decoder starts new.
# While loading, ECViT splits the fused qkv bias into q_bias / v_bias (the
# dropped key bias is softmax-invariant: exact) and drops the class token and
# MAE's fixed 2-D sin-cos table (ECViT uses its fixed 1-D table).
# "headless": a model with weights, no data or schedule; stage 2
# (ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py) inherits it. FAIR's own
# file works too: tools/model_converters/mae_to_mmpretrain.py, then point
# model.backbone.init_cfg.checkpoint at the result.
_base_ = ['../_base_/models/ecmae_vit-base-p16.py']

checkpoint = ('https://download.openmmlab.com/mmselfsup/1.x/mae/'
              'mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k/'
              'mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k_20220825-'
              'f7569ca2.pth')
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))

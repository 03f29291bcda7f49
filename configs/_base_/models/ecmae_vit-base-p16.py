# EC-DL masked autoencoder, base sizes: encoder ViT-B/16 (768 wide, 12 layers,
# 12 heads) on the visible 25% of tokens, decoder 384 wide, 4 layers, 6 heads,
# norm_pix target on the image de-normalised to [0, 1], MSE on masked tokens.
model = dict(
    type='ECMAE',
    backbone=dict(
        type='ECMAEViT',
        arch='base',
        img_size=224,
        patch_size=16,
        mask_ratio=0.75),
    neck=dict(
        type='ECMAEPretrainDecoder',
        embed_dims=768,
        decoder_embed_dims=384,
        decoder_num_layers=4,
        decoder_num_heads=6,
        patch_size=16),
    head=dict(
        type='ECMAEPretrainHead',
        norm_pix=True,
        patch_size=16,
        # criterion='L1' for the L1 variant
        loss=dict(type='PixelReconstructionLoss', criterion='L2'),
        # LPIPS variant: perceptual_loss=dict(type='LPIPSLoss', net='vgg')
        perceptual_loss=None),
    # num_masks=2 (with align_weight) for the two-mask variant
    num_masks=1,
)

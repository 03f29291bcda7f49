# EC-DL stage 3 on the DINOv2 chain: fine-tunes the encoder of
# ecmae_vit-base-p14_dinov2-pre_8xb16-amp-coslr-20e_ecnbi.py (patch 14, layer
# scale, loaded from the checkpoint); everything else as
# ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py.
_base_ = ['./ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py']

pretrained = 'work_dirs/ecmae_vit-base-p14_dinov2-pre_8xb16-amp-coslr-20e_ecnbi/epoch_20.pth'  # noqa: E501
model = dict(
    backbone=dict(
        patch_size=14, init_values=1e-5, init_cfg=dict(checkpoint=pretrained)))

# EC-DL stage 3 on the MoCo v3 chain: fine-tunes the encoder of
# ecmae_vit-base-p16_mocov3-pre_8xb16-amp-coslr-20e_ecnbi.py; everything else
# as ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py.
_base_ = ['./ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py']

pretrained = 'work_dirs/ecmae_vit-base-p16_mocov3-pre_8xb16-amp-coslr-20e_ecnbi/epoch_20.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))

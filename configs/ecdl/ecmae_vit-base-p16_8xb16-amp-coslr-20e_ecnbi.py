# EC-DL stage 2, in-domain pre-training: ECMAE ViT-B/16 trained on unlabeled
# EC-NBI images (a folder, any depth of sub-folders), its encoder starting
# from the stage-1 ImageNet MAE weights (by URL) and its decoder new. The
# release's values: 20 epochs, batch 16 per GPU, AdamW lr 1.5e-4 absolute,
# betas (0.9, 0.999), wd 0.05, 2 warm-up epochs from 1e-6, cosine to 1e-5,
# mask 0.75, norm_pix target, drop path 0, RandomResizedCrop(224, scale
# (0.08, 1), bilinear), no flip. Mixed precision (a GPU is needed).
#   bash tools/dist_train.sh configs/ecdl/ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py 8 \
#       --cfg-options train_dataloader.dataset.data_root=data/ecnbi/unlabeled
# Its encoder is fine-tuned by ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py.
_base_ = [
    './ecmae_vit-base-p16_mae-1600e-pre_headless.py',
    '../_base_/datasets/ecnbi_unlabeled_mae_224.py',
    '../_base_/schedules/ecmae_adamw-coslr-20e.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)

# EC-DL stage 2 from MoCo v3 stage-1 weights
# (ecmae_vit-base-p16_mocov3-300e-pre_headless.py); everything else as
# ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py.
# Fine-tuned by ecdl-clustering_vit-base-p16_mocov3-pre_8xb8-300e_ecnbi.py.
_base_ = [
    './ecmae_vit-base-p16_mocov3-300e-pre_headless.py',
    '../_base_/datasets/ecnbi_unlabeled_mae_224.py',
    '../_base_/schedules/ecmae_adamw-coslr-20e.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)

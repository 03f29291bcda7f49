# Stage 1, generalized pre-training: ECMAE ViT-B/16 on ImageNet-1k, started
# from mmpretrain's ImageNet MAE ViT-B weights (by URL; ECViT splits their
# fused qkv bias and drops class token / learnt positions while loading).
# The EC-DL recipe mostly uses these weights as they are; running this config
# continues MAE on ImageNet with the EC-DL architecture (and trains its
# smaller 384x4 decoder, which has no ImageNet counterpart).
#   bash tools/dist_train.sh configs/ecdl/ecmae_vit-base-p16_8xb64-coslr-400e_in1k-generalized.py 8
_base_ = [
    '../_base_/models/ecmae_vit-base-p16.py',
    'mmpretrain::_base_/datasets/imagenet_bs512_mae.py',
    '../_base_/schedules/ecmae_adamw-coslr.py',
    '../_base_/default_runtime.py',
]

imagenet_mae_b = (
    'https://download.openmmlab.com/mmselfsup/1.x/mae/'
    'mae_vit-base-p16_8xb512-fp16-coslr-400e_in1k/'
    'mae_vit-base-p16_8xb512-coslr-400e-fp16_in1k_20220825-bc79e40b.pth')
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=imagenet_mae_b,
            prefix='backbone.')))

train_dataloader = dict(batch_size=64, num_workers=8)
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
default_hooks = dict(logger=dict(interval=100))
randomness = dict(seed=0, diff_rank_seed=True)

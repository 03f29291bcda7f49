# EC-DL in-domain MAE schedule (stage 2), the release's values: AdamW betas
# (0.9, 0.999), eps 1e-8, wd 0.05 (none on norms, biases, layer scales and the
# mask token), lr 1.5e-4 ABSOLUTE (the release leaves the lr * batch / 256
# scaling commented out), 2 warm-up epochs linear from 1e-6, then cosine to
# 1e-5; 20 epochs. Per iteration, as the release's per-step schedule.
# GroupedOptimWrapperConstructor: mmengine's default constructor with the
# parameters of equal settings in one param group (3 instead of 218 for the
# ViT-B ECMAE, the same update) and AdamW fused on CUDA.
lr = 1.5e-4
warmup_epochs = 2
max_epochs = 20
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='GroupedOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(
        flat_decay_mult=0.0, custom_keys={'mask_token': dict(decay_mult=0.)}))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / lr,  # warm-up from lr 1e-6
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=1e-5,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# The lr is absolute in the release; --auto-scale-lr rescales it from a total
# batch of 8 GPUs x 16.
auto_scale_lr = dict(base_batch_size=128)

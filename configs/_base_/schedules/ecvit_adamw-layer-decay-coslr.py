# EC-DL fine-tuning schedule (stage 3), the release's values: AdamW lr 1e-3
# ABSOLUTE (the release leaves the lr * batch / 256 scaling commented out),
# betas (0.9, 0.999), eps 1e-8, wd 0.05 (none on 1-D parameters), layer-wise
# lr decay 0.75 (ECViT.get_layer_depth), 5 warm-up epochs linear from 1e-6,
# cosine to 1e-6, 300 epochs. Per iteration, as the release's per-step
# schedule. GroupedLayerDecayOptimWrapperConstructor is mmpretrain's
# LearningRateDecayOptimWrapperConstructor with the parameters of one layer
# and weight decay in one param group (28 groups instead of 162 for ViT-B,
# the same update) and AdamW fused on CUDA.
lr = 1e-3
warmup_epochs = 5
max_epochs = 300
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    constructor='GroupedLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75, flat_decay_mult=0.0))

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
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# The lr is absolute in the release; --auto-scale-lr rescales it from the
# release's total batch of 64.
auto_scale_lr = dict(base_batch_size=64)

# Fine-tuning schedule of the ImageNet-supervised baselines on EC-NBI
# (configs/baselines): AdamW lr 1e-4 absolute for a total batch of 64 (the
# EC-DL stage-3 batch), wd 0.05 (none on norms and biases), 5 warm-up epochs
# linear from 1e-6, cosine to 1e-6, 100 epochs, validation every epoch for
# save_best. One recipe for every baseline, so that a difference between
# them is the architecture and its ImageNet weights, not the tuning.
lr = 1e-4
warmup_epochs = 5
max_epochs = 100
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / lr,
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
auto_scale_lr = dict(base_batch_size=64)

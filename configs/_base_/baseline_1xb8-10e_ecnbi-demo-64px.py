# The tiny random-init baselines (configs/baselines/*_ecnbi-demo-64px) on the
# 64 px EC-NBI demo, for tests and CPU smoke runs of
# tools/analysis/benchmark_models.py: the baseline recipe
# (schedules/baseline_adamw-coslr-100e.py) cut to 10 epochs, lr 1e-3, cosine
# from the start, batch 8. A leaf adds its shrunk mmpretrain model.
_base_ = [
    './datasets/ecnbi_lesion_64.py',
    './schedules/baseline_adamw-coslr-100e.py',
    './default_runtime.py',
]

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=10, eta_min=1e-5)
]
# No validation sheet in the demo: the last epoch's weights are tested.
train_cfg = dict(by_epoch=True, max_epochs=10)
val_cfg = None
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=5))

# Copyright (c) ecdl_mm contributors. All rights reserved.
# The baseline recipe shortened for the tiny 64 px demo variants (tests and CPU
# smoke runs of tools/analysis/benchmark_models.py, not models): 10 epochs, a
# larger lr for random init, and no validation (the demo has no validation
# sheet: the last epoch's weights are tested).
_base_ = ['./baseline_adamw-coslr-100e.py']

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=10, eta_min=1e-5)
]
train_cfg = dict(by_epoch=True, max_epochs=10)
val_cfg = None
auto_scale_lr = dict(base_batch_size=8)

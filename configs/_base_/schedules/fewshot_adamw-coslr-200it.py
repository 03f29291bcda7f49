# Copyright (c) ecdl_mm contributors. All rights reserved.
# Few-shot adaptation: AdamW, cosine to 0 over a fixed number of iterations
# whatever k (200), the last weights tested.
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=False, T_max=200, eta_min=0.)
]
train_cfg = dict(by_epoch=False, max_iters=200, val_interval=200)
test_cfg = dict()

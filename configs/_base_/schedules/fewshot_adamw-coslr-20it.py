# fewshot_adamw-coslr-200it.py over 20 iterations (the demo configs).
_base_ = ['./fewshot_adamw-coslr-200it.py']

param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=False, T_max=20, eta_min=0.)
]
train_cfg = dict(max_iters=20, val_interval=20)
default_hooks = dict(checkpoint=dict(interval=20))

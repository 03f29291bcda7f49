# Few-shot adaptation schedule (configs/fewshot), with its runtime: AdamW
# lr 1e-3 (full fine-tuning sets 1e-4), wd 1e-4, cosine to 0 over 200
# iterations whatever k, no validation loop, one checkpoint at the end.
_base_ = ['../default_runtime.py']

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=False, T_max=200, eta_min=0.)
]
train_cfg = dict(by_epoch=False, max_iters=200, val_interval=200)
val_cfg = None
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=200, max_keep_ckpts=1))

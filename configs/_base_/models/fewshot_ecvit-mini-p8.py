# The few-shot model of fewshot_ecvit-base-p16.py, tiny and random-init
# (2 layers, 32 wide, 64 px), for tests and CPU smoke runs (not a model).
_base_ = ['./fewshot_ecvit-base-p16.py']

# the source model's checkpoint (None: random init)
pretrained = None
init_cfg = None
# (_delete_: replaces the base's arch name)
arch = dict(
    _delete_=True,
    embed_dims=32,
    num_layers=2,
    num_heads=2,
    feedforward_channels=64)
ecvit = dict(arch=arch, img_size=64, patch_size=8, init_cfg=init_cfg)
model = dict(backbone=ecvit, head=dict(in_channels=32))

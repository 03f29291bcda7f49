# Runtime shared by every ecdl_mm config: mmpretrain's default runtime plus our
# plugin import, atomic checkpoint writes and a device-appropriate distributed
# backend.
_base_ = 'mmpretrain::_base_/default_runtime.py'

# Registers ecdl_mm's components into mmpretrain's registries, so this config
# also runs under mmpretrain's own tools/train.py and tools/test.py.
custom_imports = dict(imports=['ecdl_mm'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    # `atomic_local` writes to a temporary file and renames it, so a kill
    # during a save never leaves a truncated checkpoint that `--resume` would
    # pick up.
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        backend_args=dict(backend='atomic_local')),
)

# NCCL on GPUs; tools/train.py switches to gloo when no GPU is present.
env_cfg = dict(dist_cfg=dict(backend='nccl'))

randomness = dict(seed=0, deterministic=False)

# The EC-NBI lesion splits at 224 px (datasets/ecnbi_lesion_224.py) with the
# shared runtime, 8 images per GPU (a total batch of 64 on 8 GPUs, the EC-DL
# stage-3 batch), a checkpoint every 10 epochs and the best on `val` (lesion
# accuracy): how the stage-3 EC-DL model
# (configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py) and the
# ImageNet baselines (configs/baselines, baseline_8xb8-100e_ecnbi.py) train.
_base_ = ['./datasets/ecnbi_lesion_224.py', './default_runtime.py']

train_dataloader = dict(batch_size=8)
val_dataloader = dict(batch_size=8)
test_dataloader = dict(batch_size=8)

default_hooks = dict(
    checkpoint=dict(
        interval=10,
        max_keep_ckpts=3,
        save_best='lesion/accuracy',
        rule='greater'))

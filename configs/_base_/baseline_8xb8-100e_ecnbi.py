# The ImageNet-supervised baselines (configs/baselines/*_in1k-pre_*): the
# EC-NBI lesion splits, batch and checkpointing of the stage-3 EC-DL model
# (ecnbi_lesion_224_8xb8_save-best.py), with the one baseline recipe
# (schedules/baseline_adamw-coslr-100e.py). A leaf adds its mmpretrain model
# and ImageNet weights.
_base_ = [
    './ecnbi_lesion_224_8xb8_save-best.py',
    './schedules/baseline_adamw-coslr-100e.py',
]

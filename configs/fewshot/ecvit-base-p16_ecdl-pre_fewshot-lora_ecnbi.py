# Few-shot adaptation to a new centre (issue 20), LoRA (mmpretrain's LoRAModel,
# rank 8, alpha 8) on every block's attention projection and MLP
# (QVBiasAttention reads qkv.weight itself, so qkv is not a LoRA target); ECViT
# frozen, LoRA and the head train.
# The model: ViT-B/16, the EC-DL model of the source centre (stage 3), on a new
# centre; the bases say the rest.
#   python tools/analysis/fewshot_curve.py --configs \
#       configs/fewshot/ecvit-base-p16_ecdl-pre_fewshot-linear_ecnbi.py \
#       configs/fewshot/ecvit-base-p16_ecdl-pre_fewshot-lora_ecnbi.py ... \
#       --data-root data/new_centre --work-dir work_dirs/fewshot
_base_ = [
    '../_base_/models/fewshot_ecvit-base-p16.py',
    '../_base_/datasets/ecnbi_fewshot_224.py',
    '../_base_/schedules/fewshot_adamw-coslr-200it.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='LoRAModel',
        module={{_base_.ecvit}},
        alpha=8,
        rank=8,
        targets=[
            dict(type='attn.proj'),
            dict(type='ffn.layers.0.0'),
            dict(type='ffn.layers.1')
        ]))

# Few-shot adaptation to a new centre (issue 20), LoRA (mmpretrain's LoRAModel,
# rank 2, alpha 2) on every block's attention projection and MLP
# (QVBiasAttention reads qkv.weight itself, so qkv is not a LoRA target); ECViT
# frozen, LoRA and the head train.
# The model: tiny random-init ECViT (64 px) on the 40 demo lesions,
# for tests and CPU smoke runs (not a model); the bases say the rest.
#   python tools/analysis/fewshot_curve.py --configs \
#       configs/fewshot/ecvit-mini-p8_fewshot-linear_ecnbi-demo-64px.py \
#       configs/fewshot/ecvit-mini-p8_fewshot-lora_ecnbi-demo-64px.py ... \
#       --data-root ../shared/datasets/ecdl-demo --work-dir \
#       work_dirs/fewshot
_base_ = [
    '../_base_/models/fewshot_ecvit-mini-p8.py',
    '../_base_/datasets/ecnbi_fewshot_64.py',
    '../_base_/schedules/fewshot_adamw-coslr-20it.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='LoRAModel',
        module={{_base_.ecvit}},
        alpha=2,
        rank=2,
        targets=[
            dict(type='attn.proj'),
            dict(type='ffn.layers.0.0'),
            dict(type='ffn.layers.1')
        ]))

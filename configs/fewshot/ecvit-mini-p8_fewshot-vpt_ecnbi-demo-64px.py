# Few-shot adaptation to a new centre (issue 20), visual prompt tuning:
# PromptedECViT, 2 deep prompts per layer; ECViT frozen, prompts and the head
# train.
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

ecvit = dict(type='PromptedECViT', num_prompts=2, deep_prompts=True)
model = dict(backbone=ecvit)

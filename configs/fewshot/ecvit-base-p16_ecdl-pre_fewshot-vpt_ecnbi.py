# Few-shot adaptation to a new centre (issue 20), visual prompt tuning:
# PromptedECViT, 10 deep prompts per layer; ECViT frozen, prompts and the head
# train.
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

ecvit = dict(type='PromptedECViT', num_prompts=10, deep_prompts=True)
model = dict(backbone=ecvit)

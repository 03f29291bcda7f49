# Tiny random-init variant of efficientnet-b0_in1k-pre_8xb8-100e_ecnbi.py on
# the 64 px EC-NBI demo: mmpretrain's B0 (efficientnet_b0.py) at 64 px, for
# tests and CPU smoke runs of tools/analysis/benchmark_models.py (not a model):
#   python tools/analysis/benchmark_models.py \
#       --configs \
#       configs/ecdl/ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px.py \
#       configs/baselines/efficientnet-b0_1xb8-10e_ecnbi-demo-64px.py \
#       --splits ../shared/datasets/ecdl-demo/dataset_divide.xlsx \
#       --sheets demo_train none demo_test --work-dir work_dirs/benchmark_demo
_base_ = [
    'mmpretrain::_base_/models/efficientnet_b0.py',
    '../_base_/baseline_1xb8-10e_ecnbi-demo-64px.py',
]

model = dict(
    # B0 itself (4 M parameters, the smallest of the family) at 64 px
    head=dict(num_classes=3, topk=(1, )))

# Tiny random-init variant of resnet50_in1k-pre_8xb8-100e_ecnbi.py on the 64 px
# EC-NBI demo: the same mmpretrain model family (resnet50.py) shrunk to a few
# layers / channels, for tests and CPU smoke runs of
# tools/analysis/benchmark_models.py (not a model):
#   python tools/analysis/benchmark_models.py \
#       --configs \
#       configs/ecdl/ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px.py \
#       configs/baselines/resnet-mini_1xb8-10e_ecnbi-demo-64px.py \
#       --splits ../shared/datasets/ecdl-demo/dataset_divide.xlsx \
#       --sheets demo_train none demo_test --work-dir work_dirs/benchmark_demo
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    '../_base_/baseline_1xb8-10e_ecnbi-demo-64px.py',
]

model = dict(
    backbone=dict(depth=18, stem_channels=8, base_channels=8),
    head=dict(num_classes=3, in_channels=64, topk=(1, )))

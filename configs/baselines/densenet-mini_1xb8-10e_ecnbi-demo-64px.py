# Tiny random-init variant of densenet121_in1k-pre_8xb8-100e_ecnbi.py on the 64
# px EC-NBI demo: the same mmpretrain model family (densenet/densenet121.py)
# shrunk to a few layers / channels, for tests and CPU smoke runs of
# tools/analysis/benchmark_models.py (not a model):
#   python tools/analysis/benchmark_models.py \
#       --configs \
#       configs/ecdl/ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px.py \
#       configs/baselines/densenet-mini_1xb8-10e_ecnbi-demo-64px.py \
#       --splits ../shared/datasets/ecdl-demo/dataset_divide.xlsx \
#       --sheets demo_train none demo_test --work-dir work_dirs/benchmark_demo
_base_ = [
    'mmpretrain::_base_/models/densenet/densenet121.py',
    '../_base_/baseline_1xb8-10e_ecnbi-demo-64px.py',
]

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, growth_rate=8, depths=(2, 2), init_channels=16)),
    head=dict(num_classes=3, in_channels=32, topk=(1, )))

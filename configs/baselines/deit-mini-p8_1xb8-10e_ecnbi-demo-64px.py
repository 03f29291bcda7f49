# Tiny random-init variant of deit-base-p16_in1k-pre_8xb8-100e_ecnbi.py on the
# 64 px EC-NBI demo: the same mmpretrain model family (vit-base-p16.py) shrunk
# to a few layers / channels, for tests and CPU smoke runs of
# tools/analysis/benchmark_models.py (not a model):
#   python tools/analysis/benchmark_models.py \
#       --configs \
#       configs/ecdl/ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px.py \
#       configs/baselines/deit-mini-p8_1xb8-10e_ecnbi-demo-64px.py \
#       --splits ../shared/datasets/ecdl-demo/dataset_divide.xlsx \
#       --sheets demo_train none demo_test --work-dir work_dirs/benchmark_demo
_base_ = [
    'mmpretrain::_base_/models/vit-base-p16.py',
    '../_base_/baseline_1xb8-10e_ecnbi-demo-64px.py',
]

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=32,
            num_layers=2,
            num_heads=2,
            feedforward_channels=64),
        img_size=64,
        patch_size=8,
        drop_rate=0.),
    head=dict(
        num_classes=3,
        in_channels=32,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, )))

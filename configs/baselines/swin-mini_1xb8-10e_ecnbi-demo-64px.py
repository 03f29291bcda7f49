# Tiny random-init variant of swin-tiny_in1k-pre_8xb8-100e_ecnbi.py on the 64
# px EC-NBI demo: the same mmpretrain model family
# (swin_transformer/tiny_224.py) shrunk to a few layers / channels, for tests
# and CPU smoke runs of tools/analysis/benchmark_models.py (not a model):
#   python tools/analysis/benchmark_models.py \
#       --configs \
#       configs/ecdl/ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px.py \
#       configs/baselines/swin-mini_1xb8-10e_ecnbi-demo-64px.py \
#       --splits ../shared/datasets/ecdl-demo/dataset_divide.xlsx \
#       --sheets demo_train none demo_test --work-dir work_dirs/benchmark_demo
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/tiny_224.py',
    '../_base_/baseline_1xb8-10e_ecnbi-demo-64px.py',
]

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=16, depths=[1, 1], num_heads=[1, 2]),
        img_size=64,
        window_size=4,
        out_indices=(1, ),
        drop_path_rate=0.),
    head=dict(num_classes=3, in_channels=32, topk=(1, )),
    train_cfg=None)

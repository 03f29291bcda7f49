# Ablation of the stage-3 demo: the same encoder, data and recipe as
# ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py, with a plain
# LinearClsHead (label-smoothed CE only) and no class centres.
#   python tools/train.py configs/ecdl/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py
#   python tools/train.py configs/ecdl/ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px.py
_base_ = ['./ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py']

model = dict(
    head=dict(
        _delete_=True,
        type='LinearClsHead',
        num_classes=3,
        in_channels=96,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[
            dict(
                type='TruncNormal', layer='Linear', std=0.02 * 0.001, bias=0.)
        ]))
custom_hooks = []

test_evaluator = [
    dict(
        type='LesionMetric',
        aggregation='mean',
        bootstrap_rounds=1000,
        out_dir='{work_dir}/lesion_eval'),
    dict(type='Accuracy', topk=(1, )),
]

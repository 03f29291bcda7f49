# A tiny ResNet-18 (16 base channels) on the 64 px EC-NBI demo: trains on the
# demo_train sheet in about a minute on CPU and tests at image and lesion level
# on demo_test (last epoch; the demo has no validation sheet). A smoke test of
# the data / metric / inference path, not a model.
#   python tools/train.py configs/ecdl/resnet18-tiny_1xb8-10e_ecnbi-demo-64px.py
#   python tools/test.py configs/ecdl/resnet18-tiny_1xb8-10e_ecnbi-demo-64px.py \
#       work_dirs/resnet18-tiny_1xb8-10e_ecnbi-demo-64px/epoch_10.pth
#   python tools/infer.py configs/ecdl/resnet18-tiny_1xb8-10e_ecnbi-demo-64px.py \
#       work_dirs/.../epoch_10.pth ../shared/datasets/ecdl-demo --out-csv lesions.csv
_base_ = [
    '../_base_/datasets/ecnbi_lesion_64.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=16,
        base_channels=16,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=3,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )),
)

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, T_max=10)
# No validation sheet in the demo: no validation, no best-checkpoint
# selection; demo_test is evaluated once, on the last epoch's weights.
train_cfg = dict(by_epoch=True, max_epochs=10)
val_cfg = None
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=8)

default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=5))

# tools/test.py writes per-image / per-lesion CSVs, metrics.json and the
# confusion-matrix and ROC plots in <work dir>/lesion_eval ({work_dir} is the
# run's --work-dir, so two runs never overwrite each other's files).
test_evaluator = [
    dict(
        type='LesionMetric',
        aggregation='mean',
        bootstrap_rounds=1000,
        out_dir='{work_dir}/lesion_eval'),
    dict(type='Accuracy', topk=(1, )),
]

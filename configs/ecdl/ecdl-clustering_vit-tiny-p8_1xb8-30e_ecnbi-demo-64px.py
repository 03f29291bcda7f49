# Tiny CPU demo of EC-DL stage 3: fine-tune the encoder of the tiny ECMAE demo
# (4 layers, 96 wide, 8 px patches, 64 px) with supervised deep clustering on
# the demo_train sheet, test at image and lesion level on demo_test. The
# recipe of ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py at 64 px,
# shortened (30 epochs, 2 warm-up), batch 8 and class-balanced; see
# configs/ecdl/README.md for every difference.
# The demo has no validation sheet: no validation, no best-checkpoint
# selection; demo_test is evaluated once, on the last epoch's weights.
# The whole chain is tools/run_pipeline.sh.
#   python tools/train.py configs/ecdl/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py
#   python tools/train.py configs/ecdl/ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py
#   python tools/test.py configs/ecdl/ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py \
#       work_dirs/ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px/epoch_30.pth
_base_ = [
    '../_base_/models/ecvit-base-p16.py',
    '../_base_/datasets/ecnbi_lesion_64.py',
    '../_base_/schedules/ecvit_adamw-layer-decay-coslr.py',
    '../_base_/default_runtime.py',
]

pretrained = 'work_dirs/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo/epoch_20.pth'
model = dict(
    backbone=dict(
        arch=dict(
            embed_dims=96,
            num_layers=4,
            num_heads=3,
            feedforward_channels=384,
            _delete_=True),
        img_size=64,
        patch_size=8,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(
        type='SupervisedClusteringHead',
        num_classes=3,
        in_channels=96,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        center_loss=dict(
            type='ClusterCenterLoss', temperature=0.07, loss_weight=1.0)))

custom_hooks = [dict(type='ClassCenterHook', momentum=None)]

# demo_train is 13 adenomas / 3 invasive cancers / 4 non-neoplastic lesions:
# class-balanced sampling (as ecdl-clustering_vit-base-p16_8xb8-cbs-300e_ecnbi.py)
# repeats the rare classes so that they are seen about as often as adenomas.
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassBalancedDataset',
        oversample_thr=0.5,
        dataset={{_base_.train_dataloader.dataset}}))

# The release's schedule (warm-up from lr 1e-6, cosine to 1e-6), shortened.
max_epochs = 30
warmup_epochs = 2
param_scheduler = [
    dict(_base_.param_scheduler[0], end=warmup_epochs),
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs - warmup_epochs,
        begin=warmup_epochs,
        end=max_epochs),
]
# No validation (no validation sheet in the demo).
train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
val_cfg = None
auto_scale_lr = dict(base_batch_size=8)

default_hooks = dict(
    logger=dict(interval=3), checkpoint=dict(interval=10, max_keep_ckpts=1))

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

# ImageNet-supervised baseline for the EC-DL comparison (issue 20):
# DenseNet-121, fine-tuned on the EC-NBI lesion splits of
# configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py (the same train
# / val / test sheets, transforms, LesionMetric and save_best on `val`), with
# the one baseline recipe of
# configs/_base_/schedules/baseline_adamw-coslr-100e.py. The model is
# mmpretrain's own (densenet/densenet121.py); its ImageNet weights come by URL
# from mmpretrain's metafile, read through ecdl_mm's safe loaders.
#   bash tools/dist_train.sh \
#       configs/baselines/densenet121_in1k-pre_8xb8-100e_ecnbi.py 8
#   python tools/analysis/benchmark_models.py --configs \
#       configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py \
#       configs/baselines/densenet121_in1k-pre_8xb8-100e_ecnbi.py --splits \
#       data/ecnbi/splits.xlsx --work-dir work_dirs/benchmark
_base_ = [
    'mmpretrain::_base_/models/densenet/densenet121.py',
    '../_base_/baseline_8xb8-100e_ecnbi.py',
]

# mmpretrain metafile: densenet121_3rdparty_in1k (top-1 74.96)
pretrained = 'https://download.openmmlab.com/mmclassification/v0/densenet/densenet121_4xb256_in1k_20220426-07450f99.pth'  # noqa: E501

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=3, topk=(1, )))

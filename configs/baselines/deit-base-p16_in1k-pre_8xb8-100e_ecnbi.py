# ImageNet-supervised baseline for the EC-DL comparison (issue 20): supervised
# ViT-B/16 (DeiT-B, ImageNet-1k), fine-tuned on the EC-NBI lesion splits of
# configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py (the same train
# / val / test sheets, transforms, LesionMetric and save_best on `val`), with
# the one baseline recipe of
# configs/_base_/schedules/baseline_adamw-coslr-100e.py. The model is
# mmpretrain's own (vit-base-p16.py); its ImageNet weights come by URL from
# mmpretrain's metafile, read through ecdl_mm's safe loaders.
#   bash tools/dist_train.sh \
#       configs/baselines/deit-base-p16_in1k-pre_8xb8-100e_ecnbi.py 8
#   python tools/analysis/benchmark_models.py --configs \
#       configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py \
#       configs/baselines/deit-base-p16_in1k-pre_8xb8-100e_ecnbi.py --splits \
#       data/ecnbi/splits.xlsx --work-dir work_dirs/benchmark
_base_ = [
    'mmpretrain::_base_/models/vit-base-p16.py',
    '../_base_/baseline_8xb8-100e_ecnbi.py',
]

# mmpretrain metafile: deit-base_16xb64_in1k (top-1 81.76)
pretrained = 'https://download.openmmlab.com/mmclassification/v0/deit/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth'  # noqa: E501

model = dict(
    backbone=dict(
        arch='deit-base',
        drop_rate=0.,
        drop_path_rate=0.1,
        # replaces the base's Kaiming init list
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint=pretrained,
            prefix='backbone.')),
    head=dict(
        num_classes=3,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, )))

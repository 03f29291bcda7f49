# ImageNet-supervised baseline for the EC-DL comparison (issue 20): Swin-T,
# fine-tuned on the EC-NBI lesion splits of
# configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py (the same train
# / val / test sheets, transforms, LesionMetric and save_best on `val`), with
# the one baseline recipe of
# configs/_base_/schedules/baseline_adamw-coslr-100e.py. The model is
# mmpretrain's own (swin_transformer/tiny_224.py); its ImageNet weights come by
# URL from mmpretrain's metafile, read through ecdl_mm's safe loaders.
#   bash tools/dist_train.sh \
#       configs/baselines/swin-tiny_in1k-pre_8xb8-100e_ecnbi.py 8
#   python tools/analysis/benchmark_models.py --configs \
#       configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py \
#       configs/baselines/swin-tiny_in1k-pre_8xb8-100e_ecnbi.py --splits \
#       data/ecnbi/splits.xlsx --work-dir work_dirs/benchmark
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/tiny_224.py',
    '../_base_/baseline_8xb8-100e_ecnbi.py',
]

# mmpretrain metafile: swin-tiny_16xb64_in1k (top-1 81.18)
pretrained = 'https://download.openmmlab.com/mmclassification/v0/swin-transformer/swin_tiny_224_b16x64_300e_imagenet_20210616_090925-66df6be6.pth'  # noqa: E501

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=3, topk=(1, )),
    # no mixup / cutmix: EC-DL trains without them
    train_cfg=None)

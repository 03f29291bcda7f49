# EC-DL stage 3 (supervised deep clustering, ViT-B/16) with the training
# images decoded, cropped and augmented on the GPU:
# ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py, the same recipe, boxes
# and random draws. The loader workers only read each JPEG, draw its
# RandomResizedCrop box (LoadEncodedRandomResizedCrop) and draw the flip,
# RandAugment and random-erasing decisions with mmpretrain's own transform
# objects (DeviceAugment: the same random calls, so one seed gives the same
# decisions). The model's data preprocessor (EncodedCropClsDataPreprocessor)
# decodes the batch in one nvJPEG call, crops and resizes the boxes as Pillow
# does, then applies the recorded ops in torch, batched, rounded to uint8
# after each as the CPU transforms are (op by op against mmcv:
# tests/test_models/test_data_preprocessors/).
#
# Use it to train on a GPU whose CPU cores cannot run the augmentations fast
# enough: on an H200 machine (16 vCPU) the CPU data path of the default
# config feeds ~550 img/s against a step of ~1600 img/s
# (benchmarks/gpu_check.sh, "stage3_clustering_gpu_augment"). On a CPU-only
# machine keep the default config.
_base_ = ['./ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py']

data_preprocessor = dict(
    type='EncodedCropClsDataPreprocessor',
    # resize the boxes as the base's crop does (bicubic, Pillow)
    interpolation=_base_.train_pipeline[0].interpolation,
    backend=_base_.train_pipeline[0].backend)

train_pipeline = [
    # the base's crop (size, scale range, interpolation), loaded as bytes
    dict(_base_.train_pipeline[0], type='LoadEncodedRandomResizedCrop'),
    # the base's flip, RandAugment and random erasing, drawn here
    dict(type='DeviceAugment', transforms=_base_.train_pipeline[1:-1]),
    dict(
        type='PackInputs',
        meta_keys=_base_.meta_keys + ('crop_bbox', 'device_augments')),
]
train_dataloader = dict(
    # the byte strings differ in length: a list, stacked by the preprocessor
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(pipeline=train_pipeline))

# The next batch is decoded (and augmented) on the GPU while the current one
# trains, from a background thread on a side CUDA stream: the same batches as
# EpochBasedTrainLoop's (tests/test_engine/test_prefetch_loop.py).
train_cfg = dict(
    _delete_=True,
    type='DevicePrefetchTrainLoop',
    max_epochs=_base_.train_cfg.max_epochs,
    val_interval=_base_.train_cfg.get('val_interval', 1))

# EC-DL stage 2 (ECMAE, ViT-B/16) with the training crops decoded on the GPU:
# ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py, the same recipe, boxes
# and random draws, but the loader workers only read each JPEG and draw its
# RandomResizedCrop box (LoadEncodedRandomResizedCrop); the model's data
# preprocessor (EncodedCropDataPreprocessor) decodes the batch in one nvJPEG
# call, crops the boxes from the full-resolution frames and resizes them as
# Pillow does (within one grey level of RandomResizedCrop on the full decode,
# tests/test_datasets/test_transforms/test_load_encoded_crop.py).
#
# Use it to train on a GPU whose CPU cores cannot decode fast enough: on an
# H200 machine (16 vCPU) the CPU data path feeds ~550 img/s against a step
# of ~1550 img/s (benchmarks/gpu_check.sh, "stage2_ecmae_gpu_decode"). On a
# CPU-only machine keep the default config (decoding then runs in the
# workers, in parallel, at a reduced DCT scale).
_base_ = ['./ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py']

data_preprocessor = dict(
    type='EncodedCropDataPreprocessor',
    interpolation='bilinear',
    backend='pillow')

train_pipeline = [
    # the base's crop (size, scale range, interpolation), loaded as bytes
    dict(_base_.train_pipeline[0], type='LoadEncodedRandomResizedCrop'),
    dict(
        type='PackInputs',
        meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                   'crop_bbox')),
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

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The tiny ECViT classifier of the deploy tests, with a demo test loader."""
import torch
from mmengine.config import Config

TINY_DEPLOY_VIT = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ECViT',
        arch=dict(
            embed_dims=48, num_layers=2, num_heads=3, feedforward_channels=96),
        img_size=32,
        patch_size=8),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=48),
    data_preprocessor=dict(
        num_classes=3,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))


def tiny_deploy_cfg(demo_root, model=TINY_DEPLOY_VIT):
    return Config(
        dict(
            model=model,
            test_dataloader=dict(
                dataset=dict(
                    type='ECNBIDataset',
                    data_root=demo_root,
                    ann_file='dataset_divide.xlsx',
                    sheet_name='demo_test',
                    test_mode=True,
                    pipeline=[
                        dict(type='LoadResizedImage', scale=32),
                        dict(type='CenterCrop', crop_size=32),
                        dict(
                            type='PackInputs',
                            meta_keys=('img_path', 'lesion_id')),
                    ]))))


def randomise_qv_bias(model):
    # Fresh q/v biases are zeros: give them values so fusion is tested.
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(('q_bias', 'v_bias')):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)

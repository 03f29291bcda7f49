# Copyright (c) ecdl_mm contributors. All rights reserved.
"""``DeviceAugment`` draws the stage-3 flip, RandAugment and random erasing
decisions in the worker with mmpretrain's own transform objects: replaying
its records with the functions those transforms call gives, seed by seed,
the very images and the random state of running the transforms."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from helpers.device_records import apply_record
from mmengine.config import Config
from mmpretrain.registry import TRANSFORMS

import ecdl_mm  # noqa: F401


@pytest.fixture(scope='module')
def augment_cfgs(repo_root):
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs/_base_/datasets/ecnbi_lesion_224.py'))
    return list(cfg.train_pipeline[1:-1])  # flip, RandAugment, erasing


@pytest.fixture(scope='module')
def crops(demo_root):
    files = sorted(
        glob.glob(osp.join(demo_root, '*', '*', 'Images', '*.jpg')))[::10]
    return [
        cv2.resize(cv2.imread(f), (56, 48), interpolation=cv2.INTER_AREA)
        for f in files
    ]


def _encoded(img):
    """What LoadEncodedRandomResizedCrop hands on: bytes and the crop size."""
    return dict(img=torch.zeros(16, dtype=torch.uint8), img_shape=img.shape)


def test_records_replay_the_transforms_seed_by_seed(augment_cfgs, crops):
    ref = [TRANSFORMS.build(c) for c in augment_cfgs]
    ours = TRANSFORMS.build(
        dict(type='DeviceAugment', transforms=augment_cfgs))
    seen = set()
    for seed in range(160):
        img = crops[seed % len(crops)]
        np.random.seed(seed)
        results = dict(img=img.copy(), img_shape=img.shape)
        for t in ref:
            results = t(results)
        after = np.random.random()

        np.random.seed(seed)
        drawn = ours(_encoded(img))
        assert np.random.random() == after  # the same random calls
        records = drawn['device_augments']
        assert len(records) == 4  # flip, two RandAugment ops, erasing
        replay = img.copy()
        for rec in records:
            replay = apply_record(replay, rec)
            if rec is not None:
                seen.add((rec['type'], rec.get('direction')))
        np.testing.assert_array_equal(replay, results['img'], err_msg=seed)
        assert drawn['flip'] == results['flip']
        assert drawn['flip_direction'] == results['flip_direction']
    # every op of the policy (both directions of the shears and
    # translations), the flip and the erasing were drawn and replayed
    ops = {
        'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'Posterize',
        'Solarize', 'SolarizeAdd', 'ColorTransform', 'Contrast', 'Brightness',
        'Sharpness', 'Flip', 'RandomErasing'
    }
    assert ops <= {name for name, _ in seen}
    for name in ('Shear', 'Translate'):
        assert {(name, 'horizontal'), (name, 'vertical')} <= seen


def test_a_decoded_image_is_augmented_in_the_worker(augment_cfgs, crops):
    ref = [TRANSFORMS.build(c) for c in augment_cfgs]
    ours = TRANSFORMS.build(
        dict(type='DeviceAugment', transforms=augment_cfgs))
    for seed in range(8):
        np.random.seed(seed)
        want = dict(img=crops[0].copy(), img_shape=crops[0].shape)
        for t in ref:
            want = t(want)
        np.random.seed(seed)
        got = ours(dict(img=crops[0].copy(), img_shape=crops[0].shape))
        assert got['device_augments'] is None
        np.testing.assert_array_equal(got['img'], want['img'])


def test_clear_errors(augment_cfgs):
    with pytest.raises(TypeError, match='wraps RandomFlip.*got ResizeEdge'):
        TRANSFORMS.build(
            dict(
                type='DeviceAugment',
                transforms=[dict(type='ResizeEdge', scale=8)]))
    blur = dict(
        augment_cfgs[1],
        policies=[dict(type='GaussianBlur', magnitude_range=(0.1, 2.0))])
    with pytest.raises(TypeError, match='GaussianBlur has no device version'):
        TRANSFORMS.build(dict(type='DeviceAugment', transforms=[blur]))
    area = dict(augment_cfgs[1], hparams=dict(pad_val=0, interpolation='area'))
    with pytest.raises(ValueError, match="Rotate with interpolation='area'"):
        TRANSFORMS.build(dict(type='DeviceAugment', transforms=[area]))


CROP = dict(
    scale=64,
    crop_ratio_range=(0.08, 1.0),
    backend='pillow',
    interpolation='bicubic')
META = ('img_path', 'img_shape', 'crop_bbox', 'flip', 'device_augments')


def _psnr(a, b):
    mse = float((a.float() - b.float()).pow(2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.filterwarnings('ignore:EncodedCropClsDataPreprocessor runs on')
def test_the_preprocessor_applies_them_as_the_cpu_pipeline(
        augment_cfgs, demo_root, tmp_path):
    """Files -> ``LoadEncodedRandomResizedCrop`` + ``DeviceAugment`` ->
    ``EncodedCropClsDataPreprocessor`` against ``LoadImageFromFile`` +
    ``RandomResizedCrop`` + the transforms, seed by seed; a PNG in the
    batch is augmented by the worker."""
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate
    from mmpretrain.registry import MODELS
    files = sorted(
        glob.glob(osp.join(demo_root, '*', '*', 'Images', '*.jpg')))[::3]
    png = str(tmp_path / 'frame.png')
    cv2.imwrite(png, cv2.imread(files[0]))
    files = files + [png]
    ours = Compose([
        TRANSFORMS.build(c) for c in [
            dict(type='LoadEncodedRandomResizedCrop', **CROP),
            dict(type='DeviceAugment', transforms=augment_cfgs),
            dict(type='PackInputs', meta_keys=META)
        ]
    ])
    ref = Compose([
        TRANSFORMS.build(c) for c in [
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', **CROP)
        ] + augment_cfgs + [dict(type='PackInputs')]
    ])
    got, want = [], []
    for seed, path in enumerate(files):
        np.random.seed(seed)
        got.append(ours(dict(img_path=path)))
        after = np.random.random()
        np.random.seed(seed)
        want.append(ref(dict(img_path=path)))
        assert np.random.random() == after
    assert got[-1]['inputs'].shape == (3, 64, 64)  # the PNG: done on CPU
    assert all(g['inputs'].dim() == 1 for g in got[:-1])  # bytes
    pre = MODELS.build(
        dict(
            type='EncodedCropClsDataPreprocessor',
            num_classes=3,
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            to_rgb=True,
            interpolation='bicubic',
            backend='pillow'))
    batch = pseudo_collate(got)
    crops = pre.decode_crops(batch['inputs'], batch['data_samples'])
    ref_crops = torch.stack([w['inputs'] for w in want])
    assert crops.shape == ref_crops.shape == (len(files), 3, 64, 64)
    torch.testing.assert_close(crops[-1], ref_crops[-1].float())
    # measured: min PSNR 79.5 dB, 99.996% of the values equal: the crops'
    # resize rounds a value here and there to the next grey level (as in
    # test_load_encoded_crop.py); the ops themselves are exact on the CPU
    # (tests/test_models/test_data_preprocessors)
    psnr = [_psnr(a, b) for a, b in zip(crops, ref_crops)]
    assert min(psnr) > 60
    assert float((crops == ref_crops).float().mean()) > 0.9999
    # normalised as ClsDataPreprocessor normalises the CPU batch
    out = pre(batch, True)['inputs']
    ref_out = MODELS.build(
        dict(
            type='ClsDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            to_rgb=True))(dict(
                inputs=crops.to(torch.uint8),
                data_samples=batch['data_samples']), True)['inputs']
    torch.testing.assert_close(out, ref_out)


def test_a_batch_of_records_equals_the_replay_without_host_reads(
        augment_cfgs, crops):
    """``apply_device_augments`` groups a batch by step and op type: the
    same images as replaying each sample's records one by one, and no value
    read back to the host (each would be a GPU sync)."""
    from helpers.host_reads import HostReads

    from ecdl_mm.models.data_preprocessors.augment_records import \
        apply_device_augments
    ours = TRANSFORMS.build(
        dict(type='DeviceAugment', transforms=augment_cfgs))
    imgs, records = [], []
    for seed in range(48):
        np.random.seed(100 + seed)
        img = crops[seed % len(crops)]
        imgs.append(img)
        records.append(ours(_encoded(img))['device_augments'])
    records[5] = None  # augmented by the worker: left alone
    batch = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float()
    with HostReads() as reads:
        out = apply_device_augments(batch, records)
    assert reads.count == 0
    types = {r['type'] for recs in records if recs for r in recs if r}
    assert len(types) >= 12  # most ops, several at once in a step
    want = []
    for img, recs in zip(imgs, records):
        for rec in recs or []:
            img = apply_record(img, rec)
        want.append(img)
    diff = (out.permute(0, 2, 3, 1) - torch.from_numpy(np.stack(want))).abs()
    # the bicubic warps round 2e-5 of the values to the neighbouring level
    # (tests/test_models/test_data_preprocessors/test_augment_geometric.py);
    # everything else is exact
    assert float(diff.max()) <= 1
    assert float((diff > 0).float().mean()) < 1e-4
    with pytest.raises(ValueError, match='different numbers of steps'):
        apply_device_augments(batch[:2], [records[0], records[1][:2]])


def test_labels_move_in_one_non_blocking_upload(monkeypatch):
    """The GPU-decode preprocessors move the batch's labels before queuing
    the decode (``ClsDataPreprocessor``'s blocking ``.to()`` would wait for
    it): one upload for the batch, every sample keeps its own label."""
    from mmpretrain.structures import DataSample

    from ecdl_mm.models.data_preprocessors import encoded_crop_preprocessor
    calls = []

    def fake_upload(data, device, dtype=torch.float32):
        calls.append((tuple(data.shape), device, dtype))
        return data.clone().to(dtype)

    monkeypatch.setattr(encoded_crop_preprocessor, 'upload', fake_upload)
    samples = [DataSample().set_gt_label(k) for k in (2, 0, 1)]
    before = [s.gt_label for s in samples]
    encoded_crop_preprocessor._labels_to(samples, torch.device('meta'))
    assert calls == [((3, ), torch.device('meta'), torch.long)]
    assert [int(s.gt_label) for s in samples] == [2, 0, 1]
    assert all(s.gt_label is not b for s, b in zip(samples, before))
    # already there, or unlabelled (stage 2): nothing to move
    encoded_crop_preprocessor._labels_to(samples, torch.device('cpu'))
    encoded_crop_preprocessor._labels_to([DataSample()], torch.device('meta'))
    assert len(calls) == 1


def test_every_flip_direction_and_an_op_drawn_for_the_whole_batch(crops):
    """RandomFlip with three directions and per-direction probabilities,
    and an op every sample draws (one call on the whole batch, no gather):
    the transforms' images and random state, seed by seed."""
    from ecdl_mm.models.data_preprocessors import apply_device_augments
    cfgs = [
        dict(
            type='RandomFlip',
            prob=[0.3, 0.3, 0.3],
            direction=['horizontal', 'vertical', 'diagonal']),
        dict(
            type='RandAugment',
            num_policies=1,
            magnitude_level=9,
            policies=[dict(type='Posterize', bits=3, prob=1.0)]),
    ]
    ref = [TRANSFORMS.build(c) for c in cfgs]
    ours = TRANSFORMS.build(dict(type='DeviceAugment', transforms=cfgs))
    want, records, directions = [], [], set()
    for seed in range(24):
        img = crops[seed % len(crops)]
        np.random.seed(seed)
        results = dict(img=img.copy(), img_shape=img.shape)
        for t in ref:
            results = t(results)
        want.append(results['img'])
        after = np.random.random()
        np.random.seed(seed)
        records.append(ours(_encoded(img))['device_augments'])
        assert np.random.random() == after
        directions.add(results['flip_direction'])
    assert directions == {'horizontal', 'vertical', 'diagonal', None}
    batch = torch.from_numpy(
        np.stack([crops[k % len(crops)]
                  for k in range(24)])).permute(0, 3, 1, 2).float()
    out = apply_device_augments(batch, records)
    np.testing.assert_array_equal(
        out.permute(0, 2, 3, 1).numpy().astype(np.uint8), np.stack(want))
    one = apply_device_augments(batch[:1], records[:1])  # a batch of 1
    torch.testing.assert_close(one, out[:1])

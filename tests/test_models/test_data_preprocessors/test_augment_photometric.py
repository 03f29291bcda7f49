# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The batched photometric ops against mmcv's functions (cv2 backend), image
by image, on the same uint8 input: every level must be equal."""
import glob
import os.path as osp

import cv2
import mmcv
import numpy as np
import pytest
import torch

from ecdl_mm.models.data_preprocessors.augment_photometric import (
    PHOTOMETRIC_OPS, bgr_to_gray)

H, W = 32, 40


def _solarize_add(img, magnitude, thr):
    """mmpretrain 1.2.0's ``SolarizeAdd.transform``."""
    return np.where(img < thr, np.minimum(img + magnitude, 255), img)


#: what mmpretrain's transform of each name calls
MMCV_CALLS = {
    'AutoContrast': mmcv.auto_contrast,
    'Equalize': mmcv.imequalize,
    'Invert': mmcv.iminvert,
    'Posterize': mmcv.posterize,
    'Solarize': mmcv.solarize,
    'SolarizeAdd': _solarize_add,
    'ColorTransform': mmcv.adjust_color,
    'Contrast': mmcv.adjust_contrast,
    'Brightness': mmcv.adjust_brightness,
    'Sharpness': mmcv.adjust_sharpness,
}

#: factors 1 -+ magnitude: both ends, 1 itself, and values between
FACTORS = [0.1, 1.9, 1.0, 0.5537, 1.3719]

#: one list of recs (5 images) per op, with the edge values of RandAugment's
#: ``timm_increasing`` magnitudes
RECS = {
    'AutoContrast': [{}] * 5,
    'Equalize': [{}] * 5,
    'Invert': [{}] * 5,
    'Posterize': [{
        'bits': b
    } for b in (0, 4, 1, 3, 8)],
    'Solarize': [{
        'thr': t
    } for t in (256, 0.5, 128.0000001, 127.9999, 128)],
    'SolarizeAdd': [{
        'magnitude': m,
        'thr': 128
    } for m in (0, 110, 36.999999999, 0.4, 109.99)],
    'ColorTransform': [{
        'alpha': f
    } for f in FACTORS],
    'Contrast': [{
        'factor': f
    } for f in FACTORS],
    'Brightness': [{
        'factor': f
    } for f in FACTORS],
    'Sharpness': [{
        'factor': f
    } for f in FACTORS],
}


@pytest.fixture(scope='module')
def photos(demo_root):
    """Three demo photos (BGR uint8) resized to ``(H, W)``."""
    files = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images', '*')))
    assert len(files) >= 3, f'no demo images under {demo_root}'
    return [
        cv2.resize(cv2.imread(f), (W, H), interpolation=cv2.INTER_AREA)
        for f in files[:3]
    ]


def _batch(photos, size=(H, W)):
    """Five uint8 ``(h, w, 3)`` images: two photos, noise, a constant image
    and a nearly flat one (most pixels at its maximum, one channel constant):
    the degenerate paths of AutoContrast and Equalize."""
    h, w = size
    rng = np.random.default_rng(0)
    flat = np.full((h, w, 3), 200, np.uint8)  # Equalize's step is 0
    flat[:max(1, h // 8), :, :2] = rng.integers(0, 200, (max(1, h // 8), w, 2))
    return np.stack([
        cv2.resize(photos[0], (w, h), interpolation=cv2.INTER_AREA),
        cv2.resize(photos[1], (w, h), interpolation=cv2.INTER_AREA),
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        np.full((h, w, 3), 77, np.uint8),
        flat,
    ])


def _to_tensor(imgs):
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float()


def _run(name, imgs, recs):
    """(ours, mmcv's) as int64 ``(N, H, W, 3)`` arrays."""
    x = _to_tensor(imgs)
    before = x.clone()
    out = PHOTOMETRIC_OPS[name](x, recs)
    assert torch.equal(x, before), f'{name} changed its input'
    assert out.dtype == torch.float32 and out.shape == x.shape
    ours = out.permute(0, 2, 3, 1).numpy().astype(np.int64)
    ref = np.stack([
        MMCV_CALLS[name](img, **rec).astype(np.uint8)
        for img, rec in zip(imgs, recs)
    ])
    return ours, ref.astype(np.int64)


def test_ops_cover_randaugment_photometric_policies():
    from mmpretrain.datasets.transforms.auto_augment import RANDAUG_POLICIES
    names = {p['type'] for p in RANDAUG_POLICIES['timm_increasing']}
    assert set(PHOTOMETRIC_OPS) == names - {'Rotate', 'Shear', 'Translate'}


@pytest.mark.parametrize('size', [(H, W), (5, 3)])
@pytest.mark.parametrize('name', sorted(PHOTOMETRIC_OPS))
def test_op_equals_mmcv(photos, name, size):
    """Equal at every level (measured 0 differing values also on 48 demo
    crops of 224x224, 33x41 and 7x3 with 4 draws of random magnitudes)."""
    imgs = _batch(photos, size)
    ours, ref = _run(name, imgs, RECS[name])
    np.testing.assert_array_equal(ours, ref, err_msg=name)
    if name in ('AutoContrast', 'Equalize'):  # their degenerate paths
        np.testing.assert_array_equal(ours[3], imgs[3])
        np.testing.assert_array_equal(ours[4, ..., 2], imgs[4, ..., 2])
    if name == 'Equalize':
        np.testing.assert_array_equal(ours[4], imgs[4])
    if name in ('ColorTransform', 'Contrast', 'Brightness', 'Sharpness'):
        np.testing.assert_array_equal(ours[2], imgs[2])  # factor 1


@pytest.mark.parametrize(
    'name', ['ColorTransform', 'Contrast', 'Brightness', 'Sharpness'])
def test_blend_ops_equal_mmcv_over_many_factors(photos, name):
    """cv2.addWeighted's float32 rounding, over 24 random factors (on all
    pairs of levels, a blend in float64 instead differs in 0.37% of them,
    one in float32 without the fused multiply-add in 0.07%)."""
    rng = np.random.default_rng(1)
    imgs = np.stack([photos[i % 3] for i in range(24)])
    key = 'alpha' if name == 'ColorTransform' else 'factor'
    recs = [{key: float(f)} for f in rng.uniform(0.1, 1.9, len(imgs))]
    ours, ref = _run(name, imgs, recs)
    np.testing.assert_array_equal(ours, ref)


def test_gray_is_opencv_fixed_point():
    """OpenCV's own grey levels (its version fixes the fixed-point weights:
    ``GRAY_WEIGHTS``), on 60,000 random pixels."""
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    ref = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    ours = bgr_to_gray(_to_tensor(img[None]))[0, 0].numpy()
    np.testing.assert_array_equal(ours, ref)


def test_ops_read_nothing_back_from_the_device(photos):
    """Every op keeps its data on the device (on a GPU each read is a host
    sync in the training step)."""
    from helpers.host_reads import HostReads
    x = _to_tensor(_batch(photos))
    for name, fn in PHOTOMETRIC_OPS.items():
        with HostReads() as reads:
            fn(x, RECS[name])
        assert reads.count == 0, name


def test_bad_recs_raise_one_clear_error():
    x = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match='lacks'):
        PHOTOMETRIC_OPS['Contrast'](x, [{'factor': 1.2}, {}])
    with pytest.raises(ValueError, match='1 recs for 2 images'):
        PHOTOMETRIC_OPS['Invert'](x, [{}])
    with pytest.raises(ValueError, match='bits'):
        PHOTOMETRIC_OPS['Posterize'](x, [{'bits': 9}, {'bits': 2}])


def test_empty_batch_gives_empty_batch():
    x = torch.zeros(0, 3, 8, 8)
    for name, fn in PHOTOMETRIC_OPS.items():
        assert fn(x, []).shape == x.shape, name

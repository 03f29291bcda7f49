# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The lookup-table RandAugment ops against mmpretrain's (``AutoContrast``,
``Equalize``: mmcv's histogram code; ``Solarize``, ``SolarizeAdd``;
``Contrast``, ``Brightness``: float32 blends): the same pixels bit for bit
and the same random draws, on demo crops and on made images with edge
cases."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS

import ecdl_mm  # noqa: F401
from ecdl_mm.datasets.transforms.lut_ops import LUT_OPS

PAIRS = [('AutoContrast', 'AutoContrastLUT'), ('Equalize', 'EqualizeLUT')]


def _images(demo_root):
    rng = np.random.default_rng(0)
    files = sorted(
        glob.glob(osp.join(demo_root, '*', '*', 'Images', '*.jpg')))[::5]
    for f in files:
        img = cv2.imread(f)
        y, x = rng.integers(0, 700, 2)
        yield cv2.resize(img[y:y + 300, x:x + 400], (224, 224))
    yield rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)  # noise
    yield np.full((16, 16, 3), 77, np.uint8)  # one grey level
    two = np.zeros((20, 20, 3), np.uint8)
    two[::2] = (10, 200, 255)  # two levels per channel, 255 included
    yield two
    few = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    few[..., 1] = 5  # one constant channel beside varied ones
    few[:3, :3, 2] = 250  # a channel with a rare bright level
    yield few
    low = rng.integers(0, 4, (300, 300, 3), dtype=np.uint8)  # low contrast
    yield low


@pytest.mark.parametrize('ref_name,lut_name', PAIRS)
def test_same_pixels_as_mmpretrain(demo_root, ref_name, lut_name):
    ref = TRANSFORMS.build(dict(type=ref_name, prob=1.0))
    ours = TRANSFORMS.build(dict(type=lut_name, prob=1.0))
    n = 0
    for img in _images(demo_root):
        for view in (img, img[:, ::-1]):  # a flip's view, negative strides
            want = ref(dict(img=view.copy()))['img']
            got = ours(dict(img=view.copy()))['img']
            assert got.dtype == want.dtype == np.uint8
            np.testing.assert_array_equal(got, want)
            n += 1
    assert n == 2 * (8 + 5)


def _drawn(op, magnitude_range, std=0.5):
    """An op whose magnitude is drawn as RandAugment's timm_increasing
    policies draw it (level 9 of 10, std 0.5)."""
    return dict(
        type=op,
        magnitude_range=magnitude_range,
        magnitude_level=9,
        magnitude_std=std,
        total_level=10)


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(type='Solarize', thr=0),
        dict(type='Solarize', thr=100.5),
        dict(type='Solarize', thr=128),
        dict(type='Solarize', thr=256),
        dict(type='SolarizeAdd', magnitude=0),
        dict(type='SolarizeAdd', magnitude=50.7),
        dict(type='SolarizeAdd', magnitude=110, thr=200),
        dict(type='SolarizeAdd', magnitude=37),  # an int: uint8 arithmetic
        # drawn magnitudes, as RandAugment's timm_increasing draws them
        _drawn('Solarize', (256, 0)),
        _drawn('SolarizeAdd', (0, 110)),
        dict(type='Contrast', magnitude=0.),
        dict(type='Contrast', magnitude=0.5),
        dict(type='Contrast', magnitude=0.9, random_negative_prob=1.0),
        dict(type='Brightness', magnitude=0.3),
        dict(type='Brightness', magnitude=0.7, random_negative_prob=1.0),
        _drawn('Contrast', (0, 0.9)),
        _drawn('Brightness', (0, 0.9)),
    ])
def test_level_tables_are_mmpretrains_ops(demo_root, kwargs):
    ref = TRANSFORMS.build(dict(kwargs, prob=0.7))
    ours = TRANSFORMS.build(
        dict(kwargs, type=kwargs['type'] + 'LUT', prob=0.7))
    for seed, img in enumerate(_images(demo_root)):
        view = img[:, ::-1] if seed % 2 else img
        np.random.seed(seed)
        want = ref(dict(img=view.copy()))['img']
        after = np.random.random()
        np.random.seed(seed)
        got = ours(dict(img=view.copy()))['img']
        assert np.random.random() == after
        assert got.dtype == want.dtype == np.uint8
        np.testing.assert_array_equal(got, want, err_msg=seed)


@pytest.mark.parametrize('name', ['Contrast', 'Brightness'])
def test_blend_tables_on_many_factors(demo_root, name):
    # A float32 blend rounds as OpenCV's vector loop rounds: the table is
    # that loop's result on the 256 levels. Many drawn factors (both signs,
    # as RandAugment draws them), 224 px crops (every element in the vector
    # loop) and one odd size (mmcv's own call), against mmcv.
    kwargs = dict(
        _drawn(name, (0, 0.9), std=3.0),  # a wide spread of factors
        prob=1.0)
    ref = TRANSFORMS.build(kwargs)
    ours = TRANSFORMS.build(dict(kwargs, type=name + 'LUT'))
    imgs = list(_images(demo_root))[:9]
    for seed in range(150):
        img = imgs[seed % len(imgs)]
        np.random.seed(seed)
        want = ref(dict(img=img.copy()))['img']
        np.random.seed(seed)
        got = ours(dict(img=img.copy()))['img']
        np.testing.assert_array_equal(got, want, err_msg=seed)


@pytest.mark.parametrize('ref_name,lut_name', PAIRS)
def test_same_random_draws(demo_root, ref_name, lut_name):
    img = next(_images(demo_root))
    ref = TRANSFORMS.build(dict(type=ref_name, prob=0.5))
    ours = TRANSFORMS.build(dict(type=lut_name, prob=0.5))
    applied = 0
    for seed in range(20):
        np.random.seed(seed)
        want = ref(dict(img=img.copy()))['img']
        after_ref = np.random.random()
        np.random.seed(seed)
        got = ours(dict(img=img.copy()))['img']
        assert np.random.random() == after_ref
        np.testing.assert_array_equal(got, want)
        applied += not np.array_equal(got, img)
    assert 0 < applied < 20  # prob 0.5: both outcomes seen


@pytest.mark.parametrize('ref_name,lut_name', PAIRS)
def test_other_images_take_mmpretrains_code(ref_name, lut_name):
    # four channels: mmcv's code maps the first three and drops the fourth
    img = np.random.default_rng(1).integers(0, 256, (12, 12, 4), np.uint8)
    ref = TRANSFORMS.build(dict(type=ref_name, prob=1.0))
    ours = TRANSFORMS.build(dict(type=lut_name, prob=1.0))
    np.testing.assert_array_equal(
        ours(dict(img=img.copy()))['img'],
        ref(dict(img=img.copy()))['img'])


def test_rand_augment_lut_is_mmpretrains_rand_augment(demo_root):
    # The shipped stage-3 RandAugment: mmpretrain's, seed by seed the same
    # ops drawn and the same pixels, with the two ops computed by tables.
    from mmengine.config import Config
    cfg = Config.fromfile('configs/_base_/datasets/ecnbi_lesion_224.py')
    [shipped] = [s for s in cfg.train_pipeline if 'RandAugment' in s['type']]
    assert shipped['type'] == 'RandAugmentLUT'
    ours = TRANSFORMS.build(shipped)
    ref = TRANSFORMS.build(dict(shipped, type='RandAugment'))
    assert ours.policies == ref.policies
    names = [type(t).__name__ for t in ours.transforms]
    assert names == [
        LUT_OPS.get(type(t).__name__,
                    type(t).__name__) for t in ref.transforms
    ]
    assert {
        'AutoContrastLUT', 'EqualizeLUT', 'SolarizeLUT', 'SolarizeAddLUT',
        'ContrastLUT', 'BrightnessLUT'
    } <= set(names)
    img = next(_images(demo_root))
    changed = 0
    for seed in range(60):
        np.random.seed(seed)
        want = ref(dict(img=img.copy(), img_shape=img.shape))['img']
        after = np.random.random()
        np.random.seed(seed)
        got = ours(dict(img=img.copy(), img_shape=img.shape))['img']
        assert np.random.random() == after
        np.testing.assert_array_equal(got, want, err_msg=seed)
        changed += not np.array_equal(got, img)
    assert changed > 30

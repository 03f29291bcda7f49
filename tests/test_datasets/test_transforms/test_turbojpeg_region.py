# Copyright (c) ecdl_mm contributors. All rights reserved.
"""``LoadRandomResizedCrop(decoder='turbojpeg')``: only the box's region
decoded, the same boxes as mmpretrain's ``RandomResizedCrop`` and pixels
identical to the OpenCV decoder's. The tests that decode need a TurboJPEG 3
library (``tools/install.sh`` installs the ``turbojpeg`` wheel that vendors
one; or ``ECDL_TURBOJPEG_LIB``) and are skipped without one; the fallbacks
are tested everywhere."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
from helpers.images import write_oriented_jpeg, write_truncated
from mmcv.transforms import Compose
from mmpretrain.registry import TRANSFORMS
from PIL import Image

import ecdl_mm  # noqa: F401
from ecdl_mm.datasets.transforms import load_random_resized_crop as lrc
from ecdl_mm.datasets.transforms import turbojpeg_region
from ecdl_mm.utils import console_log

needs_library = pytest.mark.skipif(
    turbojpeg_region.load_library() is None,
    reason=turbojpeg_region.library_status())


def _load(**kwargs):
    return TRANSFORMS.build(dict(type='LoadRandomResizedCrop', **kwargs))


@pytest.fixture(scope='module')
def demo_images(demo_root):
    files = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images', '*.jpg')))
    assert len(files) == 40
    return files


@pytest.fixture
def no_library(monkeypatch, tmp_path):
    """The module as on a machine without the library."""
    monkeypatch.setenv(turbojpeg_region.ENV_VAR, str(tmp_path / 'none.so'))
    monkeypatch.setattr(turbojpeg_region, '_lib', None)
    monkeypatch.setattr(turbojpeg_region, '_status', None)


@pytest.fixture
def decoder_log(monkeypatch):
    """The lines LoadRandomResizedCrop logs, as in a fresh process."""
    lines = []
    monkeypatch.setattr(console_log, '_shown_warnings', set())
    monkeypatch.delenv('ECDL_SHOWN_WARNINGS', raising=False)
    monkeypatch.setattr(lrc, 'print_log', lambda msg, **_: lines.append(msg))
    return lines


@needs_library
def test_the_decoder_in_use_is_logged_once(decoder_log):
    _load(scale=64)
    _load(scale=64, decoder='turbojpeg')
    assert len(decoder_log) == 1
    assert "only each crop box's region" in decoder_log[0]
    assert turbojpeg_region.library_status() in decoder_log[0]


def test_without_library_the_log_says_why(no_library, decoder_log):
    _load(scale=64, decoder='opencv')  # asked for: nothing to explain
    assert decoder_log == []
    _load(scale=64)
    _load(scale=64)
    assert len(decoder_log) == 1
    assert 'with OpenCV' in decoder_log[0]
    assert turbojpeg_region.ENV_VAR in decoder_log[0]


@pytest.mark.parametrize(
    'size,factor,box,expected',
    [
        # 1/2: x aligned down to 16 (32 / 2) after the 8 px margin, ends
        # rounded up (libjpeg's ceil) plus the margin
        ((1160, 1009), 2, (301, 101, 801, 601), (128, 42, 409, 309)),
        # clamped to the 580x505 reduced image
        ((1160, 1009), 2, (0, 0, 1160, 1009), (0, 0, 580, 505)),
        # 1/1: aligned to 32
        ((1160, 1009), 1, (100, 50, 400, 350), (64, 42, 408, 358)),
        # 1/8: aligned to 4, 145x127 reduced image
        ((1160, 1009), 8, (500, 900, 1100, 1000), (52, 104, 145, 127)),
    ])
def test_region_bounds(size, factor, box, expected):
    x0, y0, x1, y1 = turbojpeg_region.region_bounds(size, factor, box)
    assert (x0, y0, x1, y1) == expected
    assert x0 % max(32 // factor, 1) == 0
    # the box (at the reduced scale) with the margin lies inside
    sw, sh = -(-size[0] // factor), -(-size[1] // factor)
    m = turbojpeg_region.MARGIN
    assert x0 <= max(box[0] // factor - m, 0)
    assert y0 == max(box[1] // factor - m, 0)
    assert x1 == min(-(-box[2] // factor) + m, sw)
    assert y1 == min(-(-box[3] // factor) + m, sh)


@needs_library
@pytest.mark.parametrize('factor', [1, 2, 4, 8])
def test_region_pixels_are_opencvs(demo_images, factor):
    data = open(demo_images[3], 'rb').read()
    flag = {
        1: cv2.IMREAD_COLOR,
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8
    }
    whole = cv2.imdecode(np.frombuffer(data, np.uint8), flag[factor])
    box = (333, 211, 333 + 517, 211 + 601)
    img, x0, y0 = turbojpeg_region.decode_region(data, (1160, 1009), factor,
                                                 box)
    _, _, x1, y1 = turbojpeg_region.region_bounds((1160, 1009), factor, box)
    assert img.shape == (y1 - y0, x1 - x0, 3)
    # The box at the reduced scale: OpenCV's pixels. (The region's outer
    # column differs at 1/1: upsampling without neighbours, inside the
    # margin.)
    bx0, by0 = box[0] // factor, box[1] // factor
    bx1, by1 = -(-box[2] // factor), -(-box[3] // factor)
    np.testing.assert_array_equal(img[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0],
                                  whole[by0:by1, bx0:bx1])


def _seeded(loaders, path, seed):
    """Each loader's output for ``path`` after ``np.random.seed(seed)``
    (the same random boxes)."""
    out = []
    for load in loaders:
        np.random.seed(seed)
        out.append(load(dict(img_path=path)))
    return out


def _decoder_pair(**kwargs):
    """The same loader with the OpenCV and with the region decoder."""
    return _load(
        decoder='opencv', **kwargs), _load(
            decoder='turbojpeg', **kwargs)


@needs_library
@pytest.mark.parametrize(
    'kwargs',
    [
        # the shipped stage-3 and stage-2 crops, and OpenCV's resize
        dict(scale=224, backend='pillow', interpolation='bicubic'),
        dict(scale=224, backend='pillow', interpolation='bilinear'),
        dict(scale=224, backend='cv2', interpolation='bilinear'),
    ])
def test_same_boxes_and_pixels_as_opencv_decoder(demo_images, kwargs):
    pair = _decoder_pair(**kwargs)
    reference = Compose([
        TRANSFORMS.build(dict(type='LoadImageFromFile')),
        TRANSFORMS.build(dict(type='RandomResizedCrop', **kwargs))
    ])
    factors, psnr = set(), []
    for i, path in enumerate(demo_images[::4]):
        for seed in (i, 50 + i, 90 + i):
            expected, a, b = _seeded((reference, ) + pair, path, seed)
            expected = expected['img']
            assert b['crop_bbox'] == a['crop_bbox'], (path, seed)
            assert b['decode_factor'] == a['decode_factor']
            np.testing.assert_array_equal(b['img'], a['img'])
            factors.add(b['decode_factor'])
            if b['decode_factor'] == 1:
                np.testing.assert_array_equal(b['img'], expected)
            else:
                psnr.append(cv2.PSNR(b['img'], expected))
    assert factors == {1, 2, 4}
    if kwargs['backend'] == 'pillow':
        # Against the full decode's crop, as the OpenCV decoder's
        # (test_load_random_resized_crop.py): measured >= 39.7 dB here.
        # (With backend='cv2' the reduced box is rounded to whole pixels:
        # 27.9 dB at worst, for both decoders alike.)
        assert min(psnr) > 37.0, psnr


@needs_library
@pytest.mark.parametrize(
    'variant,region_decoded',
    [
        (dict(mode='L'), True),  # greyscale: BGR like OpenCV's
        (dict(progressive=True), True),
        (dict(subsampling=0), True),  # 4:4:4 (8 px iMCU)
        (dict(mode='CMYK'), False),  # TurboJPEG refuses: OpenCV's path
    ])
def test_jpeg_variants_match_opencv(tmp_path, demo_images, monkeypatch,
                                    variant, region_decoded):
    variant = dict(variant)
    img = Image.open(demo_images[4]).convert(variant.pop('mode', 'RGB'))
    path = str(tmp_path / 'variant.jpg')
    img.resize((580, 505), Image.BILINEAR).save(path, quality=90, **variant)
    decoded = []
    real = turbojpeg_region.decode_region

    def counting(*args):
        out = real(*args)
        decoded.append(1)
        return out

    monkeypatch.setattr(turbojpeg_region, 'decode_region', counting)
    pair = _decoder_pair(scale=64, backend='pillow', interpolation='bilinear')
    for seed in range(6):
        a, b = _seeded(pair, path, seed)
        assert b['crop_bbox'] == a['crop_bbox']
        np.testing.assert_array_equal(b['img'], a['img'])
    assert len(decoded) == (6 if region_decoded else 0)


@needs_library
def test_exif_rotated_file_takes_the_opencv_path(tmp_path, demo_images):
    path = write_oriented_jpeg(demo_images[2], str(tmp_path / 'rot6.jpg'), 6)
    pair = _decoder_pair(scale=64, backend='pillow', interpolation='bilinear')
    for seed in range(4):
        a, b = _seeded(pair, path, seed)
        assert b['ori_shape'] == (580, 505)
        np.testing.assert_array_equal(b['img'], a['img'])


@needs_library
def test_truncated_jpeg_is_named(tmp_path, demo_images):
    path = write_truncated(demo_images[0], str(tmp_path / 'cut.jpg'))
    with pytest.raises(OSError, match='cut.jpg'):
        _load(scale=64, decoder='turbojpeg')(dict(img_path=path))


def test_without_library(no_library, demo_images):
    with pytest.raises(ValueError, match=turbojpeg_region.ENV_VAR):
        _load(scale=64, decoder='turbojpeg')
    # 'auto' decodes with OpenCV: the same crop as decoder='opencv'
    a, b = _seeded((_load(scale=64), _load(scale=64, decoder='opencv')),
                   demo_images[5], 7)
    np.testing.assert_array_equal(a['img'], b['img'])
    assert 'none.so' in turbojpeg_region.library_status()

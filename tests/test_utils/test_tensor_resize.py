# Copyright (c) ecdl_mm contributors. All rights reserved.
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ecdl_mm.utils import tensor_resize
from ecdl_mm.utils.tensor_resize import resize_uint8


def _interpolate(img, size, mode):
    """torch's public resize of the same array: the reference pixels."""
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    out = F.interpolate(
        x, size=size[::-1], mode=mode, align_corners=False, antialias=True)
    return out[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize('mode', ['bilinear', 'bicubic'])
@pytest.mark.parametrize('shape,size', [((97, 131, 3), (64, 48)),
                                        ((40, 30, 3), (64, 64)),
                                        ((50, 70, 1), (32, 20)),
                                        ((33, 45, 4), (16, 16))])
def test_resize_uint8_pixels_and_layout(mode, shape, size):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    out = resize_uint8(img, size, mode)
    # (h, w, C), C-contiguous (OpenCV ops take it without a copy)
    assert out.shape == (size[1], size[0], shape[2])
    assert out.dtype == np.uint8 and out.flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(out, _interpolate(img, size, mode))
    # a strided view of a larger array (a box cut from a decoded region)
    big = rng.integers(
        0, 256, (shape[0] + 9, shape[1] + 7, shape[2]), dtype=np.uint8)
    view = big[4:4 + shape[0], 3:3 + shape[1]]
    np.testing.assert_array_equal(
        resize_uint8(view, size, mode), _interpolate(view, size, mode))


@pytest.mark.parametrize('mode', ['bilinear', 'bicubic'])
def test_resize_uint8_is_pillows_filter(mode):
    # within 1 grey level of Pillow's antialiased resize (its own code)
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (120, 150, 3), dtype=np.uint8)
    img = np.ascontiguousarray(
        np.cumsum(img, axis=1) % 256, dtype=np.uint8)  # some structure
    pil = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC}[mode]
    want = np.array(Image.fromarray(img).resize((56, 70), pil))
    assert np.abs(resize_uint8(img, (56, 70), mode).astype(int) -
                  want).max() <= 1


def test_resize_uint8_fallback_same_pixels(monkeypatch):
    # a torch whose kernel refuses the out= form: F.interpolate's result,
    # still a C-contiguous array
    def refuse(*args, **kwargs):
        raise TypeError('no out= here')

    img = np.random.default_rng(2).integers(
        0, 256, (60, 80, 3), dtype=np.uint8)
    want = resize_uint8(img, (32, 24), 'bicubic')
    monkeypatch.setitem(tensor_resize._AA_KERNELS, 'bicubic', refuse)
    out = resize_uint8(img, (32, 24), 'bicubic')
    assert out.flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(out, want)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Small synthetic images for inference and dataset tests."""
import os
import os.path as osp

import numpy as np
from PIL import Image


def write_image(path, size, mode, seed):
    """Write a random ``size=(w, h)`` image in PIL ``mode`` at ``path``."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path)


def write_oriented_jpeg(src, path, orientation, size=(580, 505)):
    """``src`` (an image file) resized to ``size`` and saved as a JPEG at
    ``path`` with an EXIF orientation tag (6: turn 90 degrees, 3: 180)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.open(src).convert('RGB').resize(size, Image.BILINEAR).save(
        path, quality=95, exif=exif.tobytes())
    return path


def write_truncated(src, path):
    """The first half of the file ``src`` at ``path`` (a JPEG cut mid-scan,
    as an interrupted copy leaves it)."""
    with open(src, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    return path

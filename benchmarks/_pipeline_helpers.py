# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Helpers of ``bench_data_pipeline.py``: crop comparisons, the
Pillow-draft decoder case and the restart-marked copy of the demo frames."""
import io
import math
import os.path as osp

import numpy as np


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64))**2)
    return 10 * np.log10(255.0**2 / mse) if mse > 0 else float('inf')


def pillow_draft_crop(crop):
    """Load + crop with Pillow's ``draft`` as the reduced decoder (the
    alternative to OpenCV's reduced modes), on ``crop``'s boxes."""
    from PIL import Image

    from ecdl_mm.datasets.transforms import crop_decode_factor
    from ecdl_mm.datasets.transforms.load_random_resized_crop import (
        _PILLOW_FILTERS, _Shape)

    def load(path):
        with open(path, 'rb') as f:
            im = Image.open(io.BytesIO(f.read()))
        w, h = im.size
        top, left, bh, bw = crop.rand_crop_params(_Shape(h, w))
        s = crop_decode_factor(bw, bh, crop.scale[1], crop.scale[0])
        if s > 1:
            im.draft('RGB', (math.ceil(w / s), math.ceil(h / s)))
        out = im.resize(
            crop.scale[::-1],
            _PILLOW_FILTERS[crop.interpolation],
            box=(left / s, top / s, (left + bw) / s, (top + bh) / s))
        return np.asarray(out)[..., ::-1]

    return load


def count_region_differences(load_opencv, load_region, files, other=None):
    """Crops of the two loaders (of ``files`` and ``other`` files) that
    differ, on the same seeds."""
    differing = 0
    for seed in range(3):
        for i, (f, g) in enumerate(zip(files, other or files)):
            np.random.seed(seed * 1000 + i)
            a = load_opencv(dict(img_path=f))
            np.random.seed(seed * 1000 + i)
            b = load_region(dict(img_path=g))
            assert a['crop_bbox'] == b['crop_bbox'], f
            differing += not np.array_equal(a['img'], b['img'])
    return differing


def restart_marked_copy(demo_root, files):
    """``files`` in a restart-marked copy of the demo folder made now
    (synthesized from the real stills, lossless), or None without
    jpegtran."""
    import atexit
    import shutil
    import tempfile

    from ecdl_mm.datasets import add_restart_markers
    if shutil.which('jpegtran') is None:
        print('restart-marked copy: skipped (no jpegtran; '
              'bash tools/install_jpegtran.sh)')
        return None
    tmp = tempfile.mkdtemp(prefix='ecdl-rst-')
    atexit.register(shutil.rmtree, tmp, True)
    stats = add_restart_markers(demo_root, osp.join(tmp, 'demo'))
    grow = stats['jpeg_bytes_out'] / stats['jpeg_bytes_in'] - 1
    print(f"restart-marked copy: {stats['converted']} JPEGs, {grow:+.1%} "
          'bytes')
    return [osp.join(tmp, 'demo', osp.relpath(f, demo_root)) for f in files]

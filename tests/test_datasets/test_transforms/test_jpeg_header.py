# Copyright (c) ecdl_mm contributors. All rights reserved.
import glob
import io
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

from ecdl_mm.datasets.transforms.jpeg_header import read_header
from ecdl_mm.datasets.transforms.load_resized_image import read_jpeg_info


def _pillow_info(img_bytes, color_type='color'):
    """The answer as Pillow gives it (how read_jpeg_info read every file
    before the marker walk): the reference."""
    try:
        img = Image.open(io.BytesIO(img_bytes))
    except Exception:
        return None
    if img.format not in ('JPEG', 'MPO'):
        return None
    w, h = img.size
    flag, orientation = 0, 1
    if color_type == 'color':
        orientation = img.getexif().get(0x0112, 1)
        if orientation in (5, 6, 7, 8):
            w, h = h, w
    else:
        flag = cv2.IMREAD_IGNORE_ORIENTATION
    return h, w, flag, orientation == 1 and img.mode in ('RGB', 'L')


def _jpeg(mode='RGB', size=(97, 61), **save):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8)
    img = Image.fromarray(arr[..., 0] if mode == 'L' else arr, mode)
    buf = io.BytesIO()
    img.save(buf, 'JPEG', **save)
    return buf.getvalue()


def _xmp_orientation(data, orientation):
    """``data`` with an XMP APP1 segment carrying a tiff:Orientation (Pillow
    reads it; the marker walk must hand such files to Pillow)."""
    xmp = (b'http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:RDF><rdf:'
           b'Description tiff:Orientation="%d"/></rdf:RDF></x:xmpmeta>' %
           orientation)
    return data[:2] + b'\xff\xe1' + (len(xmp) + 2).to_bytes(
        2, 'big') + xmp + data[2:]


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


CASES = {
    'rgb 4:2:0': _jpeg(),
    'rgb 4:4:4': _jpeg(subsampling=0),
    'rgb 4:2:2': _jpeg(subsampling=1),
    'grey': _jpeg('L'),
    'cmyk': _jpeg('CMYK'),
    'progressive': _jpeg(progressive=True),
    'restart interval': _jpeg(restart_marker_blocks=1),
    'exif orientation 6': _jpeg(exif=_exif(6)),
    'exif orientation 3': _jpeg(exif=_exif(3)),
    'exif orientation 1': _jpeg(exif=_exif(1)),
    'xmp orientation 8': _xmp_orientation(_jpeg(), 8),
}


@pytest.mark.parametrize('name', sorted(CASES))
@pytest.mark.parametrize('color_type', ['color', 'color_ignore_orientation'])
def test_jpeg_info_is_pillows(name, color_type):
    data = CASES[name]
    assert read_jpeg_info(data, color_type) == _pillow_info(data, color_type)
    header = read_header(data)
    assert header is not None and (header['w'], header['h']) == (97, 61)
    assert header['app1'] == name.startswith(('exif', 'xmp'))


def test_jpeg_info_of_demo_frames(demo_root):
    files = sorted(
        glob.glob(osp.join(demo_root, '**', '*.jpg'), recursive=True))
    assert files
    for path in files:
        with open(path, 'rb') as f:
            data = f.read()
        assert read_jpeg_info(data) == _pillow_info(data), path


def test_not_a_jpeg_and_damaged_headers():
    buf = io.BytesIO()
    Image.new('RGB', (8, 8)).save(buf, 'PNG')
    assert read_header(buf.getvalue()) is None
    assert read_jpeg_info(buf.getvalue()) is None
    data = CASES['rgb 4:2:0']
    sos = data.index(b'\xff\xda')
    for cut in (2, 20, sos):  # a header that ends early
        assert read_header(data[:cut]) is None
        assert read_jpeg_info(data[:cut]) == _pillow_info(data[:cut])
    rng = np.random.default_rng(3)
    agreed = 0
    for _ in range(300):
        bad = bytearray(data)
        for at in rng.integers(2, sos + 4, 3):
            bad[at] = rng.integers(0, 256)
        bad = bytes(bad)
        header = read_header(bad)  # never an exception
        assert header is None or header['scan_start'] <= len(bad)
        want = _pillow_info(bad)
        if want is not None:  # where Pillow reads it: the same answer
            assert read_jpeg_info(bad) == want
            agreed += 1
    assert agreed > 100

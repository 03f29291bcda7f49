# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Decode only a region of a JPEG, at a reduced scale, with libjpeg-turbo's
TurboJPEG 3 API (``tj3SetCroppingRegion`` + ``tj3SetScalingFactor``).

libjpeg-turbo skips the inverse DCT, upsampling and colour conversion of the
rows above the region and of the columns beside it, and stops after its last
row (the Huffman decoding of the rows above stays: a baseline scan without
restart markers is one bitstream). On the 1160x1009 EC-NBI frames and
mmpretrain's ``RandomResizedCrop`` boxes this decodes a crop in 2.1 ms
instead of 3.1 ms for the whole frame at the same reduction
(``docs/benchmarks.md``), with pixels identical to OpenCV's reduced decode
inside the box.

The library is optional and found at first use, in this order: the file
named by ``ECDL_TURBOJPEG_LIB``; the system ``libturbojpeg`` when it is
version 3 (it has ``tj3Init``); the copy vendored by the ``turbojpeg`` wheel
on PyPI (``turbojpeg.libs/libturbojpeg-*.so*``), which ``tools/install.sh``
installs (``requirements/turbojpeg.txt``; ``pip install -e .[turbojpeg]``).
Debian 12's ``libturbojpeg0`` (2.1.5) has no TurboJPEG 3 API.
"""
import ctypes
import ctypes.util
import glob
import os
import os.path as osp
import sys
import threading
from typing import List, Optional, Tuple

import numpy as np

ENV_VAR = 'ECDL_TURBOJPEG_LIB'
_TJINIT_DECOMPRESS = 1
_TJPARAM_JPEGWIDTH = 5
_TJPARAM_JPEGHEIGHT = 6
_TJPF_BGR = 1
# The widest iMCU of any chroma subsampling (4:1:1): a region starting on a
# multiple of it starts on an iMCU of every JPEG, as tj3SetCroppingRegion
# requires.
_MAX_MCU_WIDTH = 32
# Decoded pixels kept around the box on every side (at the reduced scale),
# so that the upsampling at the region's edges (which sees no neighbours)
# never reaches the box: the box's pixels are then the whole decode's.
MARGIN = 8


class _Region(ctypes.Structure):
    _fields_ = [('x', ctypes.c_int), ('y', ctypes.c_int), ('w', ctypes.c_int),
                ('h', ctypes.c_int)]


class _Scaling(ctypes.Structure):
    _fields_ = [('num', ctypes.c_int), ('denom', ctypes.c_int)]


def _candidates() -> List[str]:
    """Library paths to try, in order (see the module docstring)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return [env]
    found = []
    system = ctypes.util.find_library('turbojpeg')
    if system:
        found.append(system)
    for entry in sys.path:
        found += sorted(
            glob.glob(
                osp.join(entry or '.', 'turbojpeg.libs', 'libturbojpeg*.so*')))
    return found


def _bind(path: str) -> ctypes.CDLL:
    """Load ``path`` and declare the TurboJPEG 3 functions used here;
    ``OSError`` / ``AttributeError`` when it is no TurboJPEG 3 library."""
    lib = ctypes.CDLL(path)
    c_void_p, c_int = ctypes.c_void_p, ctypes.c_int
    lib.tj3Init.restype = c_void_p
    lib.tj3Init.argtypes = [c_int]
    lib.tj3Destroy.argtypes = [c_void_p]
    lib.tj3DecompressHeader.argtypes = [
        c_void_p, ctypes.c_char_p, ctypes.c_size_t
    ]
    lib.tj3Get.argtypes = [c_void_p, c_int]
    lib.tj3SetScalingFactor.argtypes = [c_void_p, _Scaling]
    lib.tj3SetCroppingRegion.argtypes = [c_void_p, _Region]
    lib.tj3Decompress8.argtypes = [
        c_void_p, ctypes.c_char_p, ctypes.c_size_t, c_void_p, c_int, c_int
    ]
    lib.tj3GetErrorStr.restype = ctypes.c_char_p
    lib.tj3GetErrorStr.argtypes = [c_void_p]
    return lib


_lib = None
_status = None
_local = threading.local()


def load_library() -> Optional[ctypes.CDLL]:
    """The TurboJPEG 3 library, or None (the reason in
    :func:`library_status`). Looked up once per process."""
    global _lib, _status
    if _status is not None:
        return _lib
    tried = []
    for path in _candidates():
        try:
            _lib = _bind(path)
            _status = f'TurboJPEG 3 from {path}'
            return _lib
        except (OSError, AttributeError) as e:
            tried.append(f'{path} ({str(e).splitlines()[0]})')
    _status = ('no TurboJPEG 3 library found (tried: ' +
               ('; '.join(tried) or 'none on this system') +
               f'); set {ENV_VAR}'
               ' or pip install turbojpeg (it vendors libturbojpeg 3)')
    return None


def library_status() -> str:
    """Where the library came from, or why none is usable."""
    load_library()
    return _status


def _handle(lib: ctypes.CDLL) -> int:
    """A decompressor handle of this thread and process (a TurboJPEG
    handle is not thread-safe; DataLoader workers fork)."""
    pid = os.getpid()
    if getattr(_local, 'pid', None) != pid:
        _local.pid = pid
        _local.handle = lib.tj3Init(_TJINIT_DECOMPRESS)
        if not _local.handle:
            raise OSError('tj3Init failed')
    return _local.handle


def region_bounds(size: Tuple[int, int], factor: int,
                  box: Tuple[int, int, int, int]) -> Tuple[int, int, int, int]:
    """The region to decode for ``box``: ``(x0, y0, x1, y1)`` in pixels of
    the image decoded at ``1 / factor`` (exclusive ends).

    Args:
        size (tuple): ``(w, h)`` of the full image.
        factor (int): 1, 2, 4 or 8.
        box (tuple): ``(x1, y1, x2, y2)`` in full-image pixels, exclusive
            ends.
    """
    w, h = size
    sw, sh = -(-w // factor), -(-h // factor)
    align = max(_MAX_MCU_WIDTH // factor, 1)
    x0 = max(box[0] // factor - MARGIN, 0) // align * align
    y0 = max(box[1] // factor - MARGIN, 0)
    x1 = min(-(-box[2] // factor) + MARGIN, sw)
    y1 = min(-(-box[3] // factor) + MARGIN, sh)
    return x0, y0, x1, y1


def decode_region(
        img_bytes: bytes, size: Tuple[int, int], factor: int,
        box: Tuple[int, int, int, int]) -> Tuple[np.ndarray, int, int]:
    """Decode the region of ``box`` at ``1 / factor`` as BGR uint8.

    Args:
        img_bytes (bytes): The JPEG.
        size (tuple): ``(w, h)`` of the full image as its header gives it
            (no EXIF rotation: the caller decodes rotated files otherwise).
        factor (int): 1, 2, 4 or 8.
        box (tuple): ``(x1, y1, x2, y2)`` in full-image pixels.

    Returns:
        tuple: ``(img, x0, y0)``: the region (see :func:`region_bounds`) and
        its top-left corner at the reduced scale.

    Raises:
        OSError: No library, or libjpeg-turbo refused the file or reported
            a warning (corrupt data): the caller then decodes the usual way,
            which tolerates or names the problem as before.
    """
    lib = load_library()
    if lib is None:
        raise OSError(library_status())
    handle = _handle(lib)
    n = len(img_bytes)
    if lib.tj3DecompressHeader(handle, img_bytes, n):
        raise OSError(lib.tj3GetErrorStr(handle).decode(errors='replace'))
    jpeg_size = (lib.tj3Get(handle, _TJPARAM_JPEGWIDTH),
                 lib.tj3Get(handle, _TJPARAM_JPEGHEIGHT))
    if jpeg_size != tuple(size):
        raise OSError(f'TurboJPEG reads size {jpeg_size}, the header '
                      f'{tuple(size)}')
    x0, y0, x1, y1 = region_bounds(size, factor, box)
    if (lib.tj3SetScalingFactor(handle, _Scaling(1, factor))
            or lib.tj3SetCroppingRegion(handle,
                                        _Region(x0, y0, x1 - x0, y1 - y0))):
        raise OSError(lib.tj3GetErrorStr(handle).decode(errors='replace'))
    out = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    if lib.tj3Decompress8(handle, img_bytes, n, out.ctypes.data, 0, _TJPF_BGR):
        raise OSError(lib.tj3GetErrorStr(handle).decode(errors='replace'))
    return out, x0, y0

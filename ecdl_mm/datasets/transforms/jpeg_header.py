# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A JPEG's markers up to its first scan, read in one pass without
decoding: the frame's size, components and sampling, the restart interval,
whether an ``APP1`` segment (EXIF or XMP: where an orientation may be) is
there, and the restart index segments of :mod:`.jpeg_restart`.

The loaders read every training file's header twice before: Pillow for the
size and EXIF orientation (:func:`.load_resized_image.read_jpeg_info`,
0.03-0.08 ms per EC-NBI frame) and a marker walk for the restart layout.
Now this one walk (~0.01 ms) serves both; a file with an ``APP1`` segment,
or any header this walk does not take, still goes to Pillow, so the answer
is Pillow's (``tests/test_datasets/test_transforms/test_jpeg_header.py``).
"""
import struct
from typing import Optional

#: The restart index segment's identifier (see :mod:`.jpeg_restart`).
INDEX_ID = b'ECDL-RST\x00'
_APP1 = 0xE1
_APP10 = 0xEA
_DRI = 0xDD
_SOS = 0xDA
# Start-of-frame markers: every frame type (0xC4 is DHT, 0xC8 JPG, 0xCC DAC)
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field; none is expected before the first scan.
_STANDALONE = frozenset(range(0xD0, 0xDA)) | {0x01}


def read_header(img_bytes: bytes) -> Optional[dict]:
    """The facts of a JPEG's header, or None when the bytes do not start
    with a JPEG header this walk parses up to its first ``SOS``.

    Returns:
        dict | None: ``sof`` (the frame marker's second byte), ``h``, ``w``,
        ``nf`` (components), ``mcu_w`` / ``mcu_h`` (MCU size in pixels; None
        for other than 1 or 3 components or a sampling factor of 0),
        ``sof_pos`` (the frame marker's offset), ``dri`` (restart interval,
        0 for none), ``app1`` (an ``APP1`` segment was seen), ``index``
        (``(start, end)`` of each restart index payload), ``scan_nf``
        (components of the first scan) and ``scan_start`` (its first
        entropy-coded byte).
    """
    if img_bytes[:2] != b'\xff\xd8':
        return None
    pos, n = 2, len(img_bytes)
    info = dict(dri=0, index=[], app1=False, sof=None)
    while pos + 4 <= n:
        if img_bytes[pos] != 0xFF:
            return None
        marker = img_bytes[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            return None
        length = (img_bytes[pos + 2] << 8) | img_bytes[pos + 3]
        if length < 2 or pos + 2 + length > n:
            return None  # a broken length, or a header cut short
        if marker in SOF_MARKERS:
            nf = img_bytes[pos + 9] if length >= 8 else 0
            if length != 8 + 3 * nf:
                return None  # a frame header of another length is broken
            h, w = struct.unpack('>HH', img_bytes[pos + 5:pos + 9])
            sampling = img_bytes[pos + 11:pos + 10 + 3 * nf:3]
            mcu_w = mcu_h = None
            if nf == 1:  # a grey scan's MCU is one block
                mcu_w = mcu_h = 8
            elif nf == 3 and len(sampling) == 3:
                mcu_w = 8 * max(s >> 4 for s in sampling)
                mcu_h = 8 * max(s & 15 for s in sampling)
                if not mcu_w or not mcu_h:  # sampling factors of 0
                    mcu_w = mcu_h = None
            info.update(
                sof=marker,
                h=h,
                w=w,
                nf=nf,
                mcu_w=mcu_w,
                mcu_h=mcu_h,
                sof_pos=pos)
        elif marker == _APP1:
            info['app1'] = True
        elif marker == _APP10 and img_bytes.startswith(INDEX_ID, pos + 4):
            info['index'].append((pos + 4 + len(INDEX_ID), pos + 2 + length))
        elif marker == _DRI and length == 4:
            info['dri'] = (img_bytes[pos + 4] << 8) | img_bytes[pos + 5]
        elif marker == _SOS:
            if info['sof'] is None:
                return None  # no frame yet
            info['scan_nf'] = img_bytes[pos + 4]
            info['scan_start'] = pos + 2 + length
            return info
        pos += 2 + length
    return None

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Cut a box out of a JPEG with a restart marker after every MCU, without
decoding it: the rows of MCUs the box covers, joined into a smaller JPEG.

A baseline JPEG is one Huffman bitstream, so a decoder must run through
every MCU above and beside a crop to reach it (libjpeg-turbo's cropped
decode still Huffman-decodes whole rows, from the top of the frame to the
crop's last row: 1.55 ms of the 2.1 ms a training crop of a 1160x1009
EC-NBI frame takes). A restart marker resets the DC predictions and
byte-aligns the stream, so with one after every MCU each MCU's bytes decode
on their own: the bytes of the box's MCUs, their markers renumbered in
order, are a valid JPEG of just that part of the frame, with the same DCT
coefficients and therefore the same pixels. ``jpegtran -restart 1B``
(libjpeg-turbo-progs) adds the markers losslessly;
``tools/dataset_converters/add_restart_markers.py`` does it for a dataset
and stores where the markers are in an ``APP10`` segment
(:func:`add_index`), so that a loader finds them without searching the
whole scan for them (18% larger files on the demo frames in all).

Only single-scan Huffman JPEGs (baseline or extended sequential, grey or
three interleaved components) with a restart interval of one MCU and
markers in order are cut; :func:`scan_layout` returns None for anything
else and the caller decodes the file as usual.
"""
import struct
from typing import NamedTuple, Optional, Tuple

import numpy as np

from .jpeg_header import INDEX_ID, read_header

#: The index segment: ``APP10``, this identifier (``jpeg_header.INDEX_ID``),
#: the index of its first marker (uint32 LE), then each marker's distance
#: from the one before (from the scan's first byte for marker 0) as uint16 LE.
_APP10 = 0xEA
_INDEX_PER_SEGMENT = (65533 - len(INDEX_ID) - 4) // 2
_SOF_HUFFMAN = (0xC0, 0xC1)


class ScanLayout(NamedTuple):
    """Where a JPEG's MCUs are."""
    width: int
    height: int
    mcu_w: int  # pixels
    mcu_h: int
    cols: int  # MCUs per row
    rows: int
    sof_pos: int  # the SOF marker's offset (its size fields follow)
    scan_start: int  # the first byte of entropy-coded data
    scan_end: int  # the EOI marker's offset
    restarts: np.ndarray  # offset of the RST marker after MCU i


def _header(img_bytes: bytes, header: Optional[dict] = None) -> Optional[dict]:
    """:func:`.jpeg_header.read_header`'s facts (``header`` when the caller
    has them) of a JPEG this module can cut: one Huffman-coded frame (no
    progressive, lossless or arithmetic coding) of 1 or 3 components, all in
    its first scan; else None."""
    info = read_header(img_bytes) if header is None else header
    if info is None or info['sof'] not in _SOF_HUFFMAN \
            or info['mcu_w'] is None or info['scan_nf'] != info['nf']:
        return None
    return info


def scan_layout(img_bytes: bytes,
                header: Optional[dict] = None) -> Optional[ScanLayout]:
    """The MCU layout of a JPEG with a restart marker after every MCU, or
    None when it is not one (see the module docstring). ``header``:
    :func:`.jpeg_header.read_header` of ``img_bytes`` where the caller has
    read it already."""
    info = _header(img_bytes, header)
    if info is None or info['dri'] != 1 or not info['h'] or not info['w']:
        return None
    cols = -(-info['w'] // info['mcu_w'])
    rows = -(-info['h'] // info['mcu_h'])
    if cols * rows < 2:
        return None  # one MCU: nothing to cut
    end = img_bytes.rfind(b'\xff\xd9')
    if end < info['scan_start']:
        return None  # truncated: the usual path names it
    data = np.frombuffer(img_bytes, np.uint8, end - info['scan_start'],
                         info['scan_start'])
    ff = _indexed(img_bytes, info['index'], cols * rows - 1, data)
    if ff is None:  # no index (or a stale one): search the scan
        ff = np.flatnonzero(data[:-1] == 0xFF)
        follow = data[ff + 1]
        ff = ff[(follow >= 0xD0) & (follow <= 0xD7)]
        in_order = len(ff) == cols * rows - 1 and np.array_equal(
            data[ff + 1] - 0xD0,
            np.arange(len(ff)) % 8)
        if not in_order:
            return None  # another interval, or markers missing / disordered
    return ScanLayout(info['w'], info['h'], info['mcu_w'], info['mcu_h'], cols,
                      rows, info['sof_pos'], info['scan_start'], end,
                      ff.astype(np.int64) + info['scan_start'])


def _indexed(img_bytes: bytes, segments: list, count: int,
             data: np.ndarray) -> Optional[np.ndarray]:
    """The markers' offsets in ``data`` (the scan) from the index segments,
    or None when there is none or it does not point at ``count`` markers
    numbered in order (checked on every marker)."""
    if not segments:
        return None
    parts, expected = [], 0
    for start, end in segments:
        if end - start < 4 or (end - start) % 2:
            return None
        first = int.from_bytes(img_bytes[start:start + 4], 'little')
        if first != expected:
            return None
        parts.append(
            np.frombuffer(img_bytes, '<u2', (end - start - 4) // 2, start + 4))
        expected += len(parts[-1])
    if expected != count or count == 0:
        return None
    ff = np.cumsum(np.concatenate(parts), dtype=np.int64)
    if ff[-1] + 1 >= len(data):
        return None
    markers = np.all(data[ff] == 0xFF) and np.array_equal(
        data[ff + 1] - 0xD0,
        np.arange(count) % 8)
    return ff if markers else None


def add_index(img_bytes: bytes) -> Optional[bytes]:
    """``img_bytes`` with the index segments of its markers before its scan
    (replacing any it had), or None when it has no restart marker after
    every MCU (:func:`scan_layout`) or an MCU longer than 65535 bytes."""
    layout = scan_layout(img_bytes)
    if layout is None:
        return None
    offsets = layout.restarts - layout.scan_start
    deltas = np.diff(offsets, prepend=0)
    if deltas.max(initial=0) > 0xFFFF:
        return None
    segments = []
    for first in range(0, len(deltas), _INDEX_PER_SEGMENT):
        payload = INDEX_ID + first.to_bytes(
            4, 'little') + deltas[first:first +
                                  _INDEX_PER_SEGMENT].astype('<u2').tobytes()
        segments.append(
            bytes([0xFF, _APP10]) + (len(payload) + 2).to_bytes(2, 'big') +
            payload)
    info = _header(img_bytes)
    head = bytearray(img_bytes[:info['scan_start']])
    for start, end in reversed(info['index']):  # drop an old index
        del head[start - len(INDEX_ID) - 4:end]
    sos = bytes(head).rfind(b'\xff\xda')
    return bytes(head[:sos]) + b''.join(segments) + bytes(
        head[sos:]) + img_bytes[info['scan_start']:]


def mcu_span(layout: ScanLayout,
             box: Tuple[int, int, int, int],
             margin: int = 1) -> Tuple[int, int, int, int]:
    """``(c0, r0, c1, r1)``: the MCU columns and rows (exclusive ends)
    covering ``box`` (``(x1, y1, x2, y2)`` pixels) and ``margin`` MCUs more
    on each side (inside the frame), so that the chroma upsampling at the
    cut's edges, which sees no neighbours, stays outside the box."""
    c0 = max(box[0] // layout.mcu_w - margin, 0)
    r0 = max(box[1] // layout.mcu_h - margin, 0)
    c1 = min(-(-box[2] // layout.mcu_w) + margin, layout.cols)
    r1 = min(-(-box[3] // layout.mcu_h) + margin, layout.rows)
    return c0, r0, c1, r1


def cut(img_bytes: bytes, layout: ScanLayout,
        span: Tuple[int, int, int, int]) -> Tuple[bytes, Tuple[int, int]]:
    """The JPEG of the MCUs ``span`` (:func:`mcu_span`) and its size
    ``(w, h)`` in pixels; its top-left pixel is ``(c0 * mcu_w, r0 * mcu_h)``
    of the frame."""
    c0, r0, c1, r1 = span
    cols, n = layout.cols, layout.cols * layout.rows
    rst = layout.restarts
    first = np.arange(r0, r1) * cols + c0  # each row's first MCU
    last = first + (c1 - c0 - 1)
    # an MCU's bytes: from after the marker before it to after its own
    seg_start = np.where(first > 0, rst[np.maximum(first - 1, 0)] + 2,
                         layout.scan_start)
    seg_end = np.where(last < n - 1, rst[np.minimum(last, n - 2)] + 2,
                       layout.scan_end)
    if last[-1] < n - 1:
        seg_end[-1] -= 2  # the final MCU's marker is not wanted
    out = bytearray(b''.join(
        img_bytes[s:e] for s, e in zip(seg_start.tolist(), seg_end.tolist())))
    # Renumber the markers: the one after the cut's MCU j is RST(j % 8).
    width = c1 - c0
    mcu = first[:, None] + np.arange(width)[None, :]  # frame MCU indices
    offset = np.cumsum(seg_end - seg_start) - (seg_end - seg_start)
    keep = mcu < n - 1
    keep[-1, -1] = False
    pos = rst[np.minimum(mcu, n - 2)] - seg_start[:, None] \
        + offset[:, None] + 1
    number = np.arange(mcu.size).reshape(mcu.shape) % 8 + 0xD0
    np.frombuffer(out, np.uint8)[pos[keep]] = number[keep]
    w = min(c1 * layout.mcu_w, layout.width) - c0 * layout.mcu_w
    h = min(r1 * layout.mcu_h, layout.height) - r0 * layout.mcu_h
    header = bytearray(img_bytes[:layout.scan_start])
    header[layout.sof_pos + 5:layout.sof_pos + 9] = struct.pack('>HH', h, w)
    return bytes(header + out) + b'\xff\xd9', (w, h)

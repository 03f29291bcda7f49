# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Cutting a box out of a restart-marked JPEG (``jpeg_restart``), the
loader's use of it and the dataset converter: every cut decodes to the whole
frame's pixels inside its box, at full and reduced scale, and the training
crops of a restart-marked copy equal those of the original frames."""
import glob
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from helpers.images import write_truncated
from mmpretrain.registry import TRANSFORMS

import ecdl_mm  # noqa: F401
from ecdl_mm.datasets import DataError, add_restart_markers
from ecdl_mm.datasets.transforms import jpeg_restart as jr

_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8
}
needs_jpegtran = pytest.mark.skipif(
    shutil.which('jpegtran') is None,
    reason='jpegtran missing (apt-get install libjpeg-turbo-progs; '
    '.ci/run installs it)')


def _encode(img, *params):
    ok, buf = cv2.imencode('.jpg', img,
                           [cv2.IMWRITE_JPEG_RST_INTERVAL, 1, *params])
    assert ok
    return buf.tobytes()


@pytest.fixture(scope='module')
def frame(demo_root):
    path = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images',
                                     '*.jpg')))[3]
    return cv2.imread(path)


@pytest.fixture(scope='module')
def kinds(frame):
    """Restart-marked JPEGs of several layouts: 4:2:0 (16 px MCUs) at the
    frame's size and at an odd one, 4:4:4 (8 px), grey (one block)."""
    odd = cv2.resize(frame, (333, 251))
    return {
        '420':
        _encode(frame),
        '420-odd':
        _encode(odd),
        '444':
        _encode(odd, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
        'grey':
        _encode(odd[..., 1]),
    }


@pytest.mark.parametrize('kind,mcu', [('420', 16), ('420-odd', 16), ('444', 8),
                                      ('grey', 8)])
def test_cut_decodes_to_the_frames_pixels(kinds, kind, mcu):
    data = kinds[kind]
    layout = jr.scan_layout(data)
    assert (layout.mcu_w, layout.mcu_h) == (mcu, mcu)
    assert len(layout.restarts) == layout.cols * layout.rows - 1
    rng = np.random.default_rng(0)
    w, h = layout.width, layout.height
    for trial in range(12):
        bw, bh = rng.integers(20, w // 2), rng.integers(20, h // 2)
        x, y = rng.integers(0, w - bw + 1), rng.integers(0, h - bh + 1)
        if trial == 0:  # the last MCU of the frame inside the box
            x, y = w - bw, h - bh
        box = (int(x), int(y), int(x + bw), int(y + bh))
        span = jr.mcu_span(layout, box)
        part, (pw, ph) = jr.cut(data, layout, span)
        ox, oy = span[0] * mcu, span[1] * mcu
        for factor, flag in _REDUCED.items():
            full = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
            got = cv2.imdecode(np.frombuffer(part, np.uint8), flag)
            assert got.shape[:2] == (-(-ph // factor), -(-pw // factor))
            x0, y0 = box[0] // factor, box[1] // factor
            x1, y1 = -(-box[2] // factor), -(-box[3] // factor)
            np.testing.assert_array_equal(
                got[y0 - oy // factor:y1 - oy // factor,
                    x0 - ox // factor:x1 - ox // factor],
                full[y0:y1, x0:x1],
                err_msg=f'{kind} box {box} at 1/{factor}')


def test_index_matches_the_search_and_a_bad_one_is_ignored(kinds):
    data = kinds['420-odd']
    indexed = jr.add_index(data)
    assert indexed is not None and len(indexed) > len(data)
    assert jr.add_index(indexed) == indexed  # replaced, not added twice
    searched, found = jr.scan_layout(data), jr.scan_layout(indexed)
    np.testing.assert_array_equal(found.restarts - found.scan_start,
                                  searched.restarts - searched.scan_start)
    np.testing.assert_array_equal(
        cv2.imdecode(np.frombuffer(indexed, np.uint8), cv2.IMREAD_COLOR),
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    # a stale index (one distance off): the markers are searched instead
    pos = indexed.index(jr.INDEX_ID) + len(jr.INDEX_ID) + 4 + 2 * 5
    stale = bytearray(indexed)
    stale[pos] ^= 1
    layout = jr.scan_layout(bytes(stale))
    np.testing.assert_array_equal(layout.restarts - layout.scan_start,
                                  searched.restarts - searched.scan_start)


def test_other_jpegs_are_not_cut(frame):
    small = cv2.resize(frame, (120, 90))
    plain = cv2.imencode('.jpg', small)[1].tobytes()
    every_2 = cv2.imencode('.jpg', small,
                           [cv2.IMWRITE_JPEG_RST_INTERVAL, 2])[1].tobytes()
    progressive = cv2.imencode(
        '.jpg', small,
        [cv2.IMWRITE_JPEG_RST_INTERVAL, 1, cv2.IMWRITE_JPEG_PROGRESSIVE, 1
         ])[1].tobytes()
    marked = _encode(small)
    for data in (plain, every_2, progressive, marked[:len(marked) // 2],
                 cv2.imencode('.png', small)[1].tobytes(), b''):
        assert jr.scan_layout(data) is None
        assert jr.add_index(data) is None
    # sampling factors of 0 in the frame header
    layout = jr.scan_layout(marked)
    broken = bytearray(marked)
    for c in range(3):
        broken[layout.sof_pos + 11 + 3 * c] = 0
    assert jr.scan_layout(bytes(broken)) is None
    # a marker missing (two MCUs' bytes joined): searched, found wanting
    layout = jr.scan_layout(marked)
    at = int(layout.restarts[3])
    assert jr.scan_layout(marked[:at] + marked[at + 2:]) is None


def _crops(files, **kwargs):
    load = TRANSFORMS.build(
        dict(type='LoadRandomResizedCrop', scale=112, **kwargs))
    out = []
    for seed, f in enumerate(files):
        np.random.seed(seed)
        res = load(dict(img_path=f))
        out.append((res['crop_bbox'], res['decode_factor'], res['img']))
    return out


@pytest.mark.parametrize('decoder', ['auto', 'opencv'])
def test_loader_crops_equal_the_uncut_decode(tmp_path, frame, decoder,
                                             monkeypatch):
    # The same restart-marked files with the cut on and off (the cut
    # disabled by making every file look unmarked).
    files = []
    for i, size in enumerate([(1160, 1009), (580, 505), (333, 251)]):
        path = str(tmp_path / f'{i}.jpg')
        with open(path, 'wb') as f:
            f.write(jr.add_index(_encode(cv2.resize(frame, size))))
        files += [path] * 8
    kwargs = dict(backend='torch', interpolation='bicubic', decoder=decoder)
    calls = []
    cut = jr.cut

    def counting_cut(*args):
        calls.append(1)
        return cut(*args)

    monkeypatch.setattr(jr, 'cut', counting_cut)
    with_cut = _crops(files, **kwargs)
    assert len(calls) == len(files)
    monkeypatch.setattr(jr, 'scan_layout', lambda data, header=None: None)
    without = _crops(files, **kwargs)
    assert {f for _, f, _ in with_cut} >= {1, 2}
    for (box_a, fac_a, a), (box_b, fac_b, b) in zip(with_cut, without):
        assert (box_a, fac_a) == (box_b, fac_b)
        np.testing.assert_array_equal(a, b)


@needs_jpegtran
def test_converter_copies_a_dataset_losslessly(tmp_path, demo_root):
    src = tmp_path / 'src'
    files = sorted(
        glob.glob(osp.join(demo_root, '*', '*', 'Images', '*.jpg')))[:4]
    for f in files:
        rel = osp.relpath(f, demo_root)
        os.makedirs(src / osp.dirname(rel), exist_ok=True)
        shutil.copy(f, src / rel)
    shutil.copy(osp.join(demo_root, 'dataset_divide.xlsx'), src)
    cv2.imwrite(
        str(src / 'progressive.jpg'),
        cv2.imread(files[0])[:64, :64], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    write_truncated(files[1], str(src / 'cut.jpg'))
    (src / 'text.jpg').write_text('not a JPEG')
    dst = tmp_path / 'dst'
    stats = add_restart_markers(str(src), str(dst), workers=2)
    # jpegtran writes the progressive file as a sequential one: marked too;
    # the broken files are copied as they are, and named
    assert (stats['converted'], stats['kept'], stats['copied']) == (5, 2, 1)
    assert [rel for rel, _ in stats['kept_files']] == ['cut.jpg', 'text.jpg']
    assert all(why.startswith('jpegtran: ') for _, why in stats['kept_files'])
    for name in ('cut.jpg', 'text.jpg'):
        assert (dst / name).read_bytes() == (src / name).read_bytes()
    assert stats['jpeg_bytes_out'] > stats['jpeg_bytes_in']
    with open(dst / 'progressive.jpg', 'rb') as fh:
        data = fh.read()
    assert jr.scan_layout(data) is not None
    np.testing.assert_array_equal(
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
        cv2.imread(str(src / 'progressive.jpg')))
    for f in files:
        rel = osp.relpath(f, demo_root)
        with open(dst / rel, 'rb') as fh:
            data = fh.read()
        layout = jr.scan_layout(data)
        assert layout is not None and (layout.cols, layout.rows) == (73, 64)
        assert jr.INDEX_ID in data[:layout.scan_start]
        np.testing.assert_array_equal(
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
            cv2.imread(f))
    with open(src / 'dataset_divide.xlsx', 'rb') as a, \
            open(dst / 'dataset_divide.xlsx', 'rb') as b:
        assert a.read() == b.read()
    # the loader's crops of the copy are the original's
    copied = [str(dst / osp.relpath(f, demo_root)) for f in files] * 3
    ours = _crops(copied, backend='torch', interpolation='bicubic')
    orig = _crops(files * 3, backend='torch', interpolation='bicubic')
    for (box_a, _, a), (box_b, _, b) in zip(ours, orig):
        assert box_a == box_b
        np.testing.assert_array_equal(a, b)


def test_converter_errors(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    (src / 'a.txt').write_text('x')
    with pytest.raises(FileNotFoundError, match='libjpeg-turbo-progs'):
        add_restart_markers(str(src), str(tmp_path / 'd'), jpegtran='no-jt')
    with pytest.raises(FileNotFoundError, match='dataset folder not found'):
        add_restart_markers(str(tmp_path / 'none'), str(tmp_path / 'd'))
    with pytest.raises(DataError, match='inside'):
        add_restart_markers(str(src), str(src / 'copy'))
    busy = tmp_path / 'busy'
    busy.mkdir()
    (busy / 'b').write_text('y')
    with pytest.raises(DataError, match='not empty'):
        add_restart_markers(str(src), str(busy))


@needs_jpegtran
def test_converter_command(tmp_path, demo_root, repo_root, monkeypatch,
                           capsys):
    import runpy
    import sys
    src = tmp_path / 'src'
    src.mkdir()
    first = sorted(
        glob.glob(osp.join(demo_root, '*', '*', 'Images', '*.jpg')))[0]
    shutil.copy(first, src / 'a.jpg')
    (src / 'notes.txt').write_text('kept')
    tool = osp.join(repo_root,
                    'tools/dataset_converters/add_restart_markers.py')
    monkeypatch.setattr(sys, 'argv', [tool, str(src), str(tmp_path / 'dst')])
    runpy.run_path(tool, run_name='__main__')
    out = capsys.readouterr().out
    assert out.startswith('1 JPEGs restart-marked (+'), out
    assert '1 other files copied' in out
    assert (tmp_path / 'dst' / 'notes.txt').read_text() == 'kept'


def test_damaged_files_never_raise(kinds):
    # Bytes flipped in the header or the scan, or cut short: a layout that
    # still checks out, or None; never an exception (the loader then
    # decodes the file the usual way, which names a broken file).
    data = jr.add_index(kinds['420-odd'])
    layout = jr.scan_layout(data)
    rng = np.random.default_rng(0)
    outcomes = set()
    for trial in range(300):
        bad = bytearray(data)
        at = rng.integers(0,
                          layout.scan_start + 400 if trial % 2 else len(bad))
        bad[at] = rng.integers(0, 256)
        if trial % 7 == 0:
            bad = bad[:rng.integers(0, len(bad))]
        got = jr.scan_layout(bytes(bad))
        outcomes.add(got is None)
        if got is not None:
            part, size = jr.cut(bytes(bad), got, (0, 0, 2, 2))
            assert part[:2] == b'\xff\xd8' and min(size) > 0
    assert outcomes == {True, False}

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A copy of a dataset whose JPEGs carry a restart marker after every MCU
and their index (:mod:`ecdl_mm.datasets.transforms.jpeg_restart`), for
faster training crops: ``LoadRandomResizedCrop`` then Huffman-decodes only
the MCUs of each crop box.

The JPEGs are rewritten losslessly by ``jpegtran -restart 1B -copy all``
(Debian: ``apt-get install libjpeg-turbo-progs``): the same DCT coefficients,
hence the same pixels from any decoder (checked here for every file with
``verify=True``); progressive and arithmetic-coded JPEGs come out as
sequential Huffman ones (jpegtran's default). Every other file (split
sheets, PNGs, ...) is copied as it is, so the copy is a drop-in
``data_root``.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys
from multiprocessing.pool import ThreadPool
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from ..utils.errors import DataError
from .transforms import jpeg_restart

_JPEG_EXTS = ('.jpg', '.jpeg', '.jpe', '.jfif')
_TIMEOUT_S = 60


def find_jpegtran(jpegtran: Optional[str] = None) -> str:
    """The ``jpegtran`` program to run; ``FileNotFoundError`` that says how
    to install it when there is none."""
    path = shutil.which(jpegtran or 'jpegtran')
    if path is None:
        raise FileNotFoundError(
            f'{jpegtran or "jpegtran"} not found: it adds the restart '
            'markers losslessly; install libjpeg-turbo-progs (Debian/Ubuntu: '
            'apt-get install libjpeg-turbo-progs) or pass --jpegtran PATH')
    return path


def restart_jpeg(src: str, jpegtran: str) -> Tuple[Optional[bytes], str]:
    """The bytes of ``src`` with a restart marker after every MCU and their
    index, or None and why not (jpegtran refused or warned about the file;
    an MCU over 64 KiB, which the index cannot hold): the caller then copies
    the file unchanged."""
    try:
        out = subprocess.run([jpegtran, '-restart', '1B', '-copy', 'all', src],
                             capture_output=True,
                             timeout=_TIMEOUT_S,
                             check=False)
    except subprocess.TimeoutExpired:
        return None, f'jpegtran took over {_TIMEOUT_S} s'
    if out.returncode != 0 or not out.stdout or out.stderr.strip():
        why = out.stderr.decode(errors='replace').strip().splitlines()
        return None, f'jpegtran: {why[0] if why else out.returncode}'
    marked = jpeg_restart.add_index(out.stdout)
    return marked, '' if marked else 'an MCU over 64 KiB'


def _same_pixels(a: bytes, b: bytes) -> bool:
    flag = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    x = cv2.imdecode(np.frombuffer(a, np.uint8), flag)
    y = cv2.imdecode(np.frombuffer(b, np.uint8), flag)
    return x is not None and y is not None and np.array_equal(x, y)


def add_restart_markers(src_root: str,
                        dst_root: str,
                        jpegtran: Optional[str] = None,
                        workers: int = 2,
                        verify: bool = True,
                        show_progress: Optional[bool] = None) -> Dict:
    """Copy ``src_root`` to ``dst_root`` with restart-marked JPEGs.

    Args:
        src_root (str): The dataset folder (any depth of sub-folders).
        dst_root (str): The copy; must not exist or be empty, and not lie
            inside ``src_root``.
        jpegtran (str, optional): The program; default: found on ``PATH``.
        workers (int): Files converted at once (each runs a ``jpegtran``).
        verify (bool): Decode every converted file and its source; a file
            whose pixels differ is copied unchanged instead (listed in
            ``kept_files``). Defaults to True.
        show_progress (bool, optional): A progress bar on stderr; default
            when stderr is a terminal.

    Returns:
        dict: Counts (``converted``; ``kept``: JPEGs copied as they are,
        listed with the reason in ``kept_files``, e.g. a corrupt file
        jpegtran warns about; ``copied``: other files) and the bytes of the
        JPEGs before and after (``jpeg_bytes_in``/``_out``). The loaders
        read kept files as before.
    """
    src_root, dst_root = osp.abspath(src_root), osp.abspath(dst_root)
    if not osp.isdir(src_root):
        raise FileNotFoundError(f'dataset folder not found: {src_root}')
    if (dst_root + os.sep).startswith(src_root + os.sep):
        raise DataError(f'{dst_root} lies inside {src_root}: write the copy '
                        'elsewhere')
    if osp.isdir(dst_root) and os.listdir(dst_root):
        raise DataError(f'{dst_root} is not empty: give a new folder')
    program = find_jpegtran(jpegtran)
    files = sorted(
        osp.relpath(osp.join(d, f), src_root)
        for d, _, names in os.walk(src_root) for f in names)
    stats = dict(
        converted=0, kept=0, copied=0, jpeg_bytes_in=0, jpeg_bytes_out=0)
    kept = []

    def one(rel: str) -> tuple:
        src, dst = osp.join(src_root, rel), osp.join(dst_root, rel)
        os.makedirs(osp.dirname(dst), exist_ok=True)
        if not rel.lower().endswith(_JPEG_EXTS):
            shutil.copy2(src, dst)
            return 'copied', 0, 0
        with open(src, 'rb') as f:
            data = f.read()
        out, why = restart_jpeg(src, program)
        if out is not None and verify and not _same_pixels(data, out):
            out, why = None, 'the marked file decodes to other pixels'
        if out is None:
            shutil.copy2(src, dst)
            kept.append((rel, why))
            return 'kept', len(data), len(data)
        with open(dst, 'wb') as f:
            f.write(out)
        shutil.copystat(src, dst)
        return 'converted', len(data), len(out)

    if show_progress is None:
        show_progress = sys.stderr.isatty()
    bar = None
    if show_progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(files), file=sys.stderr)
    with ThreadPool(max(1, workers)) as pool:
        for kind, n_in, n_out in pool.imap_unordered(one, files):
            stats[kind] += 1
            stats['jpeg_bytes_in'] += n_in
            stats['jpeg_bytes_out'] += n_out
            if bar is not None:
                bar.update()
    if bar is not None:
        sys.stderr.write('\n')
    stats['kept_files'] = sorted(kept)
    return stats

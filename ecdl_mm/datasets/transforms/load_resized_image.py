# Copyright (c) ecdl_mm contributors. All rights reserved.
import io
from typing import Optional, Tuple

import cv2
import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmpretrain.registry import TRANSFORMS
from PIL import Image

from .jpeg_header import read_header

_EXIF_ORIENTATION = 0x0112
# libjpeg's DCT-domain scaling, as OpenCV exposes it.
_REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
_ALLOWED_EDGES = ('short', 'long', 'width', 'height')
_ALLOWED_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')
# Colour flags for which the reduced-size JPEG path reproduces
# ``mmcv.imfrombytes``; any other flag takes the default decoder.
_FAST_COLOR_TYPES = ('color', 'color_ignore_orientation')


def resize_edge_size(w: int, h: int, scale: int, edge: str) -> Tuple[int, int]:
    """Size ``(w, h)`` that ``ResizeEdge(scale, edge)`` gives an image.

    Same arithmetic (and rounding) as
    :class:`mmpretrain.datasets.transforms.ResizeEdge`, so that loading with
    :class:`LoadResizedImage` yields exactly the shapes of the default
    pipeline.
    """
    if ((edge == 'short' and w < h) or (edge == 'long' and w > h)
            or edge == 'width'):
        return scale, int(scale * h / w)
    return int(scale * w / h), scale


def read_image_bytes(loader, filename: str) -> bytes:
    """The bytes of ``filename`` through ``loader``'s file client or backend
    args, as mmcv's ``LoadImageFromFile`` reads them (shared by the loaders
    of this package)."""
    if loader.file_client_args is not None:
        file_client = fileio.FileClient.infer_client(loader.file_client_args,
                                                     filename)
        return file_client.get(filename)
    if not loader.backend_args and '://' not in str(filename):
        # what mmengine's get resolves such a path to (LocalBackend.get),
        # without the backend lookup: 0.03 ms per file
        with open(filename, 'rb') as f:
            return f.read()
    return fileio.get(filename, backend_args=loader.backend_args)


def decode_full(loader, img_bytes: bytes, filename: str) -> np.ndarray:
    """Full-resolution decode with ``loader``'s colour type and backend
    (``mmcv.imfrombytes``); a file it cannot decode is an ``OSError``
    naming it."""
    img = mmcv.imfrombytes(
        img_bytes, flag=loader.color_type, backend=loader.imdecode_backend)
    if img is None:
        raise OSError(f'failed to decode image {filename}')
    return img


def read_jpeg_info(
        img_bytes: bytes,
        color_type: str = 'color',
        header: Optional[dict] = None) -> Optional[Tuple[int, int, int, bool]]:
    """:func:`read_jpeg_header` and whether OpenCV decodes the JPEG as
    stored: ``(h, w, flag, as_stored)``, ``as_stored`` False when an EXIF
    orientation (a turn or a flip) is applied or the file is not RGB or
    grey (CMYK, YCCK: OpenCV converts them, nvJPEG's result is undefined);
    None when not a JPEG.

    The size comes from one walk over the markers
    (:func:`.jpeg_header.read_header`, or ``header`` where the caller has
    it); a file with an ``APP1`` segment (where Pillow finds an EXIF or XMP
    orientation) or a header that walk does not take is read by Pillow, as
    every file was before."""
    if header is None:
        header = read_header(img_bytes)
    if header is not None and not header['app1'] and header['h'] \
            and header['w'] and header['nf'] in (1, 3, 4):
        # no orientation anywhere: Pillow's size and mode (L, RGB, CMYK)
        flag = 0 if color_type == 'color' else cv2.IMREAD_IGNORE_ORIENTATION
        return header['h'], header['w'], flag, header['nf'] != 4
    try:
        # Lazy: reads the header (size, EXIF) only.
        pil_img = Image.open(io.BytesIO(img_bytes))
    except Exception:
        return None  # not an image Pillow knows: let OpenCV try
    if pil_img.format not in ('JPEG', 'MPO'):
        return None
    w, h = pil_img.size
    flag, orientation = 0, 1
    if color_type == 'color':
        orientation = pil_img.getexif().get(_EXIF_ORIENTATION, 1)
        if orientation in (5, 6, 7, 8):  # a quarter turn: swap sides
            w, h = h, w
    else:
        flag = cv2.IMREAD_IGNORE_ORIENTATION
    return h, w, flag, orientation == 1 and pil_img.mode in ('RGB', 'L')


def read_jpeg_header(
        img_bytes: bytes,
        color_type: str = 'color') -> Optional[Tuple[int, int, int]]:
    """Size of a JPEG as OpenCV will decode it, from its header only.

    Args:
        img_bytes (bytes): The file's bytes.
        color_type (str): ``'color'`` (the EXIF orientation is applied, as
            ``cv2.IMREAD_COLOR`` does) or ``'color_ignore_orientation'``.

    Returns:
        tuple | None: ``(h, w, flag)``: the full size after the EXIF rotation
        and the OpenCV flag bits (orientation) to decode with, or None when
        the bytes are not a JPEG (the caller then decodes the default way).
    """
    info = read_jpeg_info(img_bytes, color_type)
    return None if info is None else info[:3]


def reduced_decode_factor(w: int,
                          h: int,
                          tw: int,
                          th: int,
                          min_ratio: float = 1.0) -> int:
    """The strongest libjpeg reduction (1, 2, 4 or 8) that leaves a
    ``w x h`` image (or crop box) at least ``min_ratio`` x ``tw x th``:
    what :class:`LoadResizedImage` decodes at, what the live path's frame
    loader averages to, and (with its ``min_ratio``) what
    ``LoadRandomResizedCrop`` decodes a box at."""
    for s in (8, 4, 2):
        if w >= s * min_ratio * tw and h >= s * min_ratio * th:
            return s
    return 1


def jpeg_truncated(img_bytes: bytes) -> bool:
    """Whether a JPEG lacks its end-of-image marker after its last scan
    (entropy-coded data cannot hold one: 0xFF bytes there are stuffed):
    a start-of-scan marker after the last end-of-image one, looked for
    forwards from it (not backwards through the whole scan)."""
    eoi = img_bytes.rfind(b'\xff\xd9')
    return img_bytes.find(b'\xff\xda', eoi + 1) != -1


def decode_jpeg(img_bytes: bytes, flag: int, decode_factor: int,
                filename: str) -> np.ndarray:
    """Decode a JPEG with OpenCV at ``1 / decode_factor`` of its size.

    libjpeg scales in the DCT domain and gives ``ceil(side / factor)``
    pixels per side; pixel ``i`` covers source pixels ``[i * factor,
    (i + 1) * factor)``.

    Args:
        img_bytes (bytes): The JPEG's bytes.
        flag (int): Orientation bits from :func:`read_jpeg_header`.
        decode_factor (int): 1, 2, 4 or 8.
        filename (str): Named in errors.

    Returns:
        np.ndarray: The BGR uint8 image.
    """
    # Say why rather than a bare decode failure (some libjpeg builds even
    # fill the missing rows with grey).
    if jpeg_truncated(img_bytes):
        raise OSError(f'JPEG file is truncated (no end-of-image marker '
                      f'after its last scan): {filename}')
    img = cv2.imdecode(
        np.frombuffer(img_bytes, np.uint8),
        flag | _REDUCED_FLAGS[decode_factor])
    if img is None:
        raise OSError(f'failed to decode JPEG {filename}')
    return img


@TRANSFORMS.register_module()
class LoadResizedImage(LoadImageFromFile):
    """Load an image decoded directly at reduced size and resize one edge.

    A faster drop-in replacement for ``LoadImageFromFile`` followed by
    ``ResizeEdge(scale, edge)`` when the target is much smaller than the
    source, such as the 1160x1009 EC-NBI frames resized to 256 for a 224 crop.
    A JPEG is decoded by libjpeg in the DCT domain at 1/2, 1/4 or 1/8 of its
    size (OpenCV's ``IMREAD_REDUCED_COLOR_*``, the scaling Pillow's draft mode
    uses too), choosing the strongest reduction that still leaves the image
    at least as large as the target, and the remaining (under 2x) resize is
    then done as ``ResizeEdge`` does it. The Huffman decoding stays, the
    inverse DCT, colour conversion and resize shrink: about 2x faster on the
    EC-NBI frames. The output has the shape of the default pipeline's and
    differs from it by a few grey levels, because decoding at reduced size
    averages pixels where a direct bilinear resize from full size subsamples
    (aliases) them.

    The decoder is OpenCV's, as in ``LoadImageFromFile``: greyscale and CMYK
    JPEGs come out as 3-channel BGR like the default's and the EXIF
    orientation is applied the same way (not with
    ``color_type='color_ignore_orientation'``). Other files fall back to the
    default decoder (``mmcv.imfrombytes`` with ``imdecode_backend``) followed
    by the same resize: PNG, BMP, TIFF and other non-JPEG formats, and any
    ``color_type`` other than ``'color'`` / ``'color_ignore_orientation'``.
    A truncated JPEG, or a file no decoder reads, raises an ``OSError``
    naming the file (unless ``ignore_empty``).

    **Required Keys:**

    - img_path

    **Modified Keys:**

    - img
    - img_shape
    - ori_shape

    **Added Keys:**

    - scale (only if ``resize=True``)
    - scale_factor (only if ``resize=True``)
    - decode_factor

    Args:
        scale (int): The target length of the edge chosen by ``edge``, as in
            ``ResizeEdge``.
        edge (str): The edge to resize, one of ``'short'``, ``'long'``,
            ``'width'``, ``'height'``. Defaults to ``'short'``.
        resize (bool): Whether to finish the resize to exactly the size
            ``ResizeEdge(scale, edge)`` would give. If False, the image is only
            decoded at reduced size (its ``edge`` at least ``scale``) and the
            rest is left to the following transforms. Defaults to True.
        interpolation (str): Interpolation of the final resize, as in
            ``ResizeEdge``. Defaults to ``'bilinear'``.
        backend (str): Backend of the final resize, ``'cv2'`` or
            ``'pillow'``. Defaults to ``'cv2'``.
        **kwargs: The arguments of ``LoadImageFromFile``: ``to_float32``,
            ``color_type``, ``imdecode_backend`` (used by the fallback),
            ``ignore_empty``, ``backend_args``.

    Notes:
        ``ori_shape`` is the size of the full image (after the EXIF
        rotation), as ``LoadImageFromFile`` gives it, ``img_shape`` the size
        of the loaded image, and ``scale_factor`` is relative to the full
        image, as ``ResizeEdge`` after ``LoadImageFromFile`` sets it.
        ``decode_factor`` is the JPEG reduction used (1 for a full decode).

    Examples:
        >>> # instead of LoadImageFromFile + ResizeEdge(scale=256)
        >>> test_pipeline = [
        ...     dict(type='LoadResizedImage', scale=256, edge='short'),
        ...     dict(type='CenterCrop', crop_size=224),
        ...     dict(type='PackInputs'),
        ... ]
    """

    def __init__(self,
                 scale: int,
                 edge: str = 'short',
                 resize: bool = True,
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2',
                 **kwargs) -> None:
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(
                f'scale={scale!r} must be a positive integer edge length')
        if edge not in _ALLOWED_EDGES:
            raise ValueError(
                f'edge={edge!r} is not supported, choose from {_ALLOWED_EDGES}'
            )
        if interpolation not in _ALLOWED_INTERPOLATIONS:
            raise ValueError(f'interpolation={interpolation!r} is not '
                             f'supported, choose from '
                             f'{_ALLOWED_INTERPOLATIONS}')
        if backend not in ('cv2', 'pillow'):
            raise ValueError(
                f"backend={backend!r} is not supported, choose 'cv2' or "
                "'pillow'")
        if backend == 'pillow' and interpolation not in ('nearest',
                                                         'bilinear'):
            raise ValueError(
                f'interpolation={interpolation!r} is not supported by the '
                "'pillow' backend, choose 'nearest' or 'bilinear'")
        super().__init__(**kwargs)
        self.scale = scale
        self.edge = edge
        self.resize = resize
        self.interpolation = interpolation
        self.backend = backend

    def _decode_jpeg(self, img_bytes: bytes, filename: str) -> Optional[tuple]:
        """Decode a JPEG at reduced size.

        Returns:
            tuple | None: ``(img, ori_shape, decode_factor)`` with ``img`` the
            BGR uint8 image and ``ori_shape`` the full ``(h, w)`` after the
            EXIF rotation, or None when the file needs the default decoder.
        """
        header = read_jpeg_header(img_bytes, self.color_type)
        if header is None:
            return None
        h, w, flag = header
        tw, th = resize_edge_size(w, h, self.scale, self.edge)
        # The strongest 1/s reduction that keeps both sides >= the size the
        # final resize wants (libjpeg gives ceil(side / s)).
        decode_factor = reduced_decode_factor(w, h, tw, th)
        img = decode_jpeg(img_bytes, flag, decode_factor, filename)
        return img, (h, w), decode_factor

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image and resize it.

        Args:
            results (dict): Result dict from
                :class:`mmengine.dataset.BaseDataset`.

        Returns:
            dict: The dict with the loaded image and meta information, or
            None if the file cannot be read and ``ignore_empty`` is True.
        """
        filename = results['img_path']
        try:
            img_bytes = read_image_bytes(self, filename)
            decoded = None
            if self.color_type in _FAST_COLOR_TYPES:
                decoded = self._decode_jpeg(img_bytes, filename)
            if decoded is None:
                img = decode_full(self, img_bytes, filename)
                decoded = img, img.shape[:2], 1
        except Exception:
            if self.ignore_empty:
                return None
            raise
        img, ori_shape, decode_factor = decoded

        if self.resize:
            ori_h, ori_w = ori_shape
            size = resize_edge_size(ori_w, ori_h, self.scale, self.edge)
            if size != (img.shape[1], img.shape[0]):
                img = mmcv.imresize(
                    img,
                    size,
                    interpolation=self.interpolation,
                    backend=self.backend)
            results['scale'] = size
            results['scale_factor'] = (size[0] / ori_w, size[1] / ori_h)
        if self.to_float32:
            img = img.astype(np.float32)

        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = tuple(ori_shape)
        results['decode_factor'] = decode_factor
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f"edge='{self.edge}', resize={self.resize}, "
                f"interpolation='{self.interpolation}', "
                f"backend='{self.backend}', "
                f'ignore_empty={self.ignore_empty}, '
                f'to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', "
                f"imdecode_backend='{self.imdecode_backend}')")

# Copyright (c) ecdl_mm contributors. All rights reserved.
import math
from typing import Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS
from PIL import Image

from ...utils.console_log import first_time_shown
from ...utils.tensor_resize import resize_family, resize_uint8
from . import jpeg_header, jpeg_restart, turbojpeg_region
from .load_resized_image import (_FAST_COLOR_TYPES, decode_full, decode_jpeg,
                                 jpeg_truncated, read_image_bytes,
                                 read_jpeg_info, reduced_decode_factor)

_DECODERS = ('auto', 'opencv', 'turbojpeg')

_BACKENDS = ('cv2', 'pillow', 'torch')
# Pillow's antialiased filters that torch's uint8 kernel computes.
_TORCH_FILTERS = ('bilinear', 'bicubic')

_PILLOW_FILTERS = {
    'nearest': Image.NEAREST,
    'bilinear': Image.BILINEAR,
    'bicubic': Image.BICUBIC,
    'box': Image.BOX,
    'lanczos': Image.LANCZOS,
    'hamming': Image.HAMMING,
}


def _log_decoder(decoder: str) -> None:
    """Say once per run (:func:`~ecdl_mm.utils.console_log.first_time_shown`)
    which JPEG decoder ``decoder`` resolves to: a run without the library
    is slower, and should say why."""
    if decoder == 'opencv':
        return
    status = turbojpeg_region.library_status()
    if turbojpeg_region.load_library() is None:
        msg = ("LoadRandomResizedCrop(decoder='auto'): each frame is decoded "
               'whole (at the reduction its box needs) with OpenCV, not only '
               "the box's region (a restart-marked JPEG is still cut to the "
               f"box's MCUs first): {status}")
    else:
        msg = ("LoadRandomResizedCrop: only each crop box's region is "
               f'decoded ({status})')
    if first_time_shown(msg):
        print_log(msg, logger='current')


class _Shape:
    """Stands in for an image in ``RandomResizedCrop.rand_crop_params``,
    which reads nothing but ``img.shape[:2]``."""

    def __init__(self, h: int, w: int) -> None:
        self.shape = (h, w)


def crop_decode_factor(box_w: int,
                       box_h: int,
                       out_w: int,
                       out_h: int,
                       min_ratio: float = 1.0) -> int:
    """The strongest JPEG reduction (8, 4, 2 or 1) that still leaves a
    ``box_w`` x ``box_h`` crop at least ``min_ratio`` x the output size along
    each side (:func:`.load_resized_image.reduced_decode_factor`)."""
    return reduced_decode_factor(box_w, box_h, out_w, out_h, min_ratio)


@TRANSFORMS.register_module()
class LoadRandomResizedCrop(LoadImageFromFile):
    """Load an image and take mmpretrain's ``RandomResizedCrop`` of it,
    decoding only the resolution the crop needs.

    A faster drop-in replacement for ``LoadImageFromFile`` followed by
    ``RandomResizedCrop`` (the same arguments). For a JPEG the crop box is
    drawn from the size in the file's header, with the very code and random
    calls of :class:`mmpretrain.datasets.transforms.RandomResizedCrop`
    (``rand_crop_params``, the global NumPy generator): the same seed gives
    the same boxes. Then libjpeg decodes the frame in the DCT domain at the
    strongest reduction (1/2, 1/4 or 1/8, OpenCV's ``IMREAD_REDUCED_*``)
    that still leaves the box at least ``min_ratio`` times the output size
    along each side, and the box is resized to the output with the
    configured interpolation. Only a box that small at full resolution
    (under ``2 * min_ratio`` x the output) is decoded in full, and then the
    pixels are exactly ``RandomResizedCrop``'s.

    Pixels of a reduced decode differ from the full decode's by the DCT
    scaling (an averaging of ``s x s`` source pixels, i.e. a slightly
    stronger anti-aliasing): on the EC-NBI demo frames at 224 px the crops
    are within 38 dB (bicubic) / 39.5 dB (bilinear) PSNR of
    ``RandomResizedCrop``'s at worst (``benchmarks/bench_data_pipeline.py``).
    With ``backend='pillow'`` the box keeps its fractional position in the
    reduced image (Pillow's ``resize(box=...)``), with ``'cv2'`` and
    ``'torch'`` it is rounded to whole reduced pixels (off by under
    ``s / 2`` source pixels: a smaller change of the crop than moving
    ``RandomResizedCrop``'s box by one pixel, which is 29.5 dB at worst on
    the demo frames against 33.1 dB for ``'torch'``).

    The ``'opencv'`` decoder is OpenCV's as in ``LoadImageFromFile``, the EXIF
    orientation applied the same way (the box is drawn on the rotated
    size). Other files (PNG, BMP, ...), other ``color_type`` values and
    unreadable headers take ``LoadImageFromFile``'s path (``mmcv.imfrombytes``
    with ``imdecode_backend``) and then exactly ``RandomResizedCrop``'s.

    With ``decoder='turbojpeg'`` (or ``'auto'`` where the library is
    found) libjpeg-turbo's TurboJPEG 3 API decodes only the box's region at
    that reduction (``turbojpeg_region`` here): the same boxes and pixels
    identical to the ``'opencv'`` decoder's, in about two thirds of its
    decode time on the EC-NBI frames. Files it does not take (EXIF-rotated,
    CMYK, corrupt) take the ``'opencv'`` path.

    A JPEG with a restart marker after every MCU (a dataset copied by
    ``tools/dataset_converters/add_restart_markers.py``, lossless) is first
    cut to the box's MCUs without decoding (:mod:`.jpeg_restart`), so that
    only they are Huffman-decoded: the same pixels, 0.37 ms less per 224 px
    crop of an EC-NBI frame with either decoder.

    **Required Keys:**

    - img_path

    **Modified Keys:**

    - img
    - img_shape (``img.shape``, as ``RandomResizedCrop`` sets it)
    - ori_shape

    **Added Keys:**

    - crop_bbox (``(x1, y1, x2, y2)`` of the box in the full image,
      exclusive ends)
    - decode_factor

    Args:
        scale (Sequence | int): Output size, ``(h, w)`` or an int for a
            square, as in ``RandomResizedCrop``.
        crop_ratio_range (Tuple[float, float]): As ``RandomResizedCrop``.
            Defaults to (0.08, 1.0).
        aspect_ratio_range (Tuple[float, float]): As ``RandomResizedCrop``.
            Defaults to (3. / 4., 4. / 3.).
        max_attempts (int): As ``RandomResizedCrop``. Defaults to 10.
        interpolation (str): As ``RandomResizedCrop``. Defaults to
            'bilinear'.
        backend (str): Resize backend: ``'cv2'`` or ``'pillow'`` as
            ``RandomResizedCrop``, or ``'torch'``: Pillow's antialiased
            ``'bilinear'`` / ``'bicubic'`` computed by torch's uint8 kernel
            (:func:`ecdl_mm.utils.tensor_resize.resize_uint8`; within 1 grey
            level of Pillow's, 3x-5x faster), the reduced box rounded to
            whole pixels as with ``'cv2'``. Defaults to 'cv2'.
        min_ratio (float): Source pixels per output pixel the decoded box
            keeps at least, along each side. 1 decodes just enough; 2 is the
            rule of the shipped test pipelines (slower, closer to the full
            decode). Defaults to 1.0.
        decoder (str): JPEG decoder: ``'opencv'`` (the whole frame at the
            reduction), ``'turbojpeg'`` (only the box's region; an error
            where no TurboJPEG 3 library is found) or ``'auto'`` (the
            region decoder where the library is found, else OpenCV).
            Defaults to 'auto'.
        **kwargs: The arguments of ``LoadImageFromFile``: ``to_float32``
            (applied after the resize), ``color_type``, ``imdecode_backend``
            (used by the fallback), ``ignore_empty``, ``backend_args``.

    Examples:
        >>> # instead of LoadImageFromFile + RandomResizedCrop(224, ...)
        >>> train_pipeline = [
        ...     dict(type='LoadRandomResizedCrop', scale=224,
        ...          backend='pillow', interpolation='bicubic'),
        ...     dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        ...     dict(type='PackInputs'),
        ... ]
    """

    def __init__(self,
                 scale: Union[Sequence, int],
                 crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2',
                 min_ratio: float = 1.0,
                 decoder: str = 'auto',
                 **kwargs) -> None:
        if backend not in _BACKENDS:
            raise ValueError(f'backend={backend!r} is not supported, choose '
                             f'from {_BACKENDS}')
        filters = dict(
            pillow=tuple(_PILLOW_FILTERS), torch=_TORCH_FILTERS).get(backend)
        if filters and interpolation not in filters:
            raise ValueError(
                f'interpolation={interpolation!r} is not supported by the '
                f"'{backend}' backend, choose from {filters}")
        if isinstance(min_ratio,
                      bool) or not isinstance(min_ratio,
                                              (int, float)) or min_ratio < 1:
            raise ValueError(f'min_ratio={min_ratio!r} must be a number >= 1 '
                             '(fewer source than output pixels would blur)')
        if decoder not in _DECODERS:
            raise ValueError(f'decoder={decoder!r} is not supported, choose '
                             f'from {_DECODERS}')
        if (decoder == 'turbojpeg'
                and turbojpeg_region.load_library() is None):
            raise ValueError("decoder='turbojpeg': " +
                             turbojpeg_region.library_status())
        super().__init__(**kwargs)
        self.decoder = decoder
        self.backend = backend
        _log_decoder(decoder)
        # The box sampler: mmpretrain's own, so the random draws are its.
        self.crop = RandomResizedCrop(
            scale,
            crop_ratio_range=crop_ratio_range,
            aspect_ratio_range=aspect_ratio_range,
            max_attempts=max_attempts,
            interpolation=interpolation,
            backend=resize_family(backend))
        self.min_ratio = float(min_ratio)

    def _resize_reduced(self, img: np.ndarray, box: tuple, factor: int,
                        size: tuple, origin: tuple) -> np.ndarray:
        """Resize ``box`` (full-image pixels) of an image decoded at
        ``1 / factor`` to the output size. ``img`` may be a region of it
        (``origin``: its top-left pixel); ``size`` is the ``(w, h)`` of
        the whole reduced image."""
        out_h, out_w = self.crop.scale
        x0, y0, x1, y1 = (v / factor for v in box)
        w, h = size
        ox, oy = origin
        if self.backend == 'pillow':
            ix0, iy0 = int(x0), int(y0)
            ix1, iy1 = min(math.ceil(x1), w), min(math.ceil(y1), h)
            patch = Image.fromarray(img[iy0 - oy:iy1 - oy, ix0 - ox:ix1 - ox])
            patch = patch.resize((out_w, out_h),
                                 _PILLOW_FILTERS[self.crop.interpolation],
                                 box=(x0 - ix0, y0 - iy0, x1 - ix0, y1 - iy0))
            return np.array(patch)
        ix0, iy0 = int(round(x0)), int(round(y0))
        ix1 = min(max(int(round(x1)), ix0 + 1), w)
        iy1 = min(max(int(round(y1)), iy0 + 1), h)
        return self._resize(img[iy0 - oy:iy1 - oy, ix0 - ox:ix1 - ox])

    def _resize(self, img: np.ndarray) -> np.ndarray:
        """``img`` resized to the output size by the configured backend."""
        out_h, out_w = self.crop.scale
        if self.backend == 'torch':
            return resize_uint8(img, (out_w, out_h), self.crop.interpolation)
        return mmcv.imresize(
            img, (out_w, out_h),
            interpolation=self.crop.interpolation,
            backend=self.backend)

    def _decode_region(self,
                       img_bytes: bytes,
                       header: tuple,
                       factor: int,
                       box: Tuple[int, int, int, int],
                       filename: str,
                       marks: Optional[dict] = None) -> Optional[tuple]:
        """``(img, x0, y0)``: a decoded part of the frame at ``1 / factor``
        around ``box`` and its top-left pixel at that scale, or None where
        the whole frame is decoded instead (an EXIF-rotated or truncated
        file; a plain JPEG without the region decoder; a file
        libjpeg-turbo refuses or warns about).

        A JPEG with a restart marker after every MCU is first cut to the
        box's MCUs (:mod:`.jpeg_restart`: no Huffman decoding of the rest),
        then decoded by the region decoder, or whole by OpenCV without it;
        any other JPEG goes to the region decoder
        (:func:`.turbojpeg_region.decode_region`). Pixels are the whole
        frame's decode at that scale either way. ``header``:
        :func:`read_jpeg_info`'s; ``marks``:
        :func:`.jpeg_header.read_header`'s where read already."""
        h, w, flag, as_stored = header
        # A turned file, or a truncated one (the OpenCV path names it).
        if not as_stored or jpeg_truncated(img_bytes):
            return None
        region = self.decoder != 'opencv' and \
            turbojpeg_region.load_library() is not None
        layout = jpeg_restart.scan_layout(img_bytes, marks)
        if layout is None and not region:
            return None
        ox = oy = 0
        if layout is not None:
            span = jpeg_restart.mcu_span(layout, box)
            img_bytes, (w, h) = jpeg_restart.cut(img_bytes, layout, span)
            ox, oy = span[0] * layout.mcu_w, span[1] * layout.mcu_h
            box = (box[0] - ox, box[1] - oy, box[2] - ox, box[3] - oy)
        try:
            if region:
                img, x0, y0 = turbojpeg_region.decode_region(
                    img_bytes, (w, h), factor, box)
            else:
                img, x0, y0 = decode_jpeg(img_bytes, flag, factor,
                                          filename), 0, 0
        except OSError:
            return None
        # the cut starts on an MCU: a multiple of 8 pixels, of any factor
        return img, x0 + ox // factor, y0 + oy // factor

    def transform(self, results: dict) -> Optional[dict]:
        """Load the crop.

        Args:
            results (dict): Result dict from
                :class:`mmengine.dataset.BaseDataset`.

        Returns:
            dict: The dict with the cropped image and meta information, or
            None if the file cannot be read and ``ignore_empty`` is True.
        """
        filename = results['img_path']
        try:
            img_bytes = read_image_bytes(self, filename)
            header = marks = None
            if self.color_type in _FAST_COLOR_TYPES:
                # one walk over the markers for the size and the layout
                marks = jpeg_header.read_header(img_bytes)
                header = read_jpeg_info(img_bytes, self.color_type, marks)
            if header is None:
                img = decode_full(self, img_bytes, filename)
                h, w = img.shape[:2]
            else:
                h, w, flag, _ = header
            top, left, box_h, box_w = self.crop.rand_crop_params(_Shape(h, w))
            factor = 1
            box = (left, top, left + box_w, top + box_h)
            origin, region = (0, 0), None
            if header is not None:
                factor = crop_decode_factor(box_w, box_h, self.crop.scale[1],
                                            self.crop.scale[0], self.min_ratio)
                region = self._decode_region(img_bytes, header, factor, box,
                                             filename, marks)
                if region is None:
                    img = decode_jpeg(img_bytes, flag, factor, filename)
                else:
                    img, origin = region[0], region[1:]
            # (w, h) of the whole image at the reduction (libjpeg: ceil).
            size = (img.shape[1],
                    img.shape[0]) if region is None else (-(-w // factor),
                                                          -(-h // factor))
        except Exception:
            if self.ignore_empty:
                return None
            raise
        if factor == 1:
            # RandomResizedCrop.transform's own crop and resize.
            ox, oy = origin
            img = mmcv.imcrop(
                img,
                bboxes=np.array(
                    [left - ox, top - oy, box[2] - 1 - ox, box[3] - 1 - oy]))
            img = self._resize(img)
        else:
            img = self._resize_reduced(img, box, factor, size, origin)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape
        results['ori_shape'] = (h, w)
        results['crop_bbox'] = box
        results['decode_factor'] = factor
        return results

    def __repr__(self) -> str:
        crop = repr(self.crop).replace(f'backend={self.crop.backend}',
                                       f'backend={self.backend}')
        return (f'{self.__class__.__name__}'
                f'({crop[crop.index("(") + 1:-1]}, '
                f'min_ratio={self.min_ratio}, '
                f"decoder='{self.decoder}', "
                f'ignore_empty={self.ignore_empty}, '
                f'to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', "
                f"imdecode_backend='{self.imdecode_backend}')")

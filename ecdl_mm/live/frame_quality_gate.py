# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Frame quality gate of the live CAD: which video frames may be diagnosed."""
from typing import Dict, Optional, Tuple

import cv2
import numpy as np
from mmpretrain.registry import TASK_UTILS

#: Reasons a frame is rejected, in the order they are tested.
REJECT_REASONS = ('no_field', 'dark', 'halation', 'blur', 'motion')
#: Reasons that mean the scope is out of contact with the mucosa (a run of
#: them ends the current lesion).
OUT_OF_CONTACT = ('no_field', 'dark')


def _subsample(frame: np.ndarray, step: int) -> np.ndarray:
    """``frame[::step, ::step]``, contiguous: the rows taken first, then
    each pixel's channels moved as one 3-byte item (2-3x faster than
    numpy's element-wise strided copy of a BGR frame; same pixels)."""
    rows = frame[::step]
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 \
            or not rows[0].flags.c_contiguous:
        return np.ascontiguousarray(rows[:, ::step])
    items = np.ascontiguousarray(rows).reshape(len(rows), -1).view(
        np.dtype((np.void, 3)))
    out = np.ascontiguousarray(items[:, ::step])
    return out.view(np.uint8).reshape(len(rows), -1, 3)


@TASK_UTILS.register_module()
class FrameQualityGate:
    """Accept only the sharp, in-contact, well-exposed frames of an EC-NBI
    video.

    It is registered in mmpretrain's ``TASK_UTILS`` (scope ``mmpretrain``,
    the registry OpenMMLab uses for helpers that are neither models nor
    transforms, e.g. mmdet's assigners), so a config sets it as
    ``live_gate = dict(type='FrameQualityGate', min_focus=...)`` and
    :class:`ecdl_mm.apis.StreamInferencer` builds it like any other part.

    Every measure is taken on a subsampled grey copy of the frame (about
    ``work_width`` pixels wide; strided, so it costs no resampling) and only
    inside the field of view. An endocytoscope's field is an octagon with
    black corners: the field is the set of pixels brighter than
    ``field_level``, filled row by row between its first and last pixel (the
    octagon is convex), and it is present when it covers at least
    ``min_field`` of the frame while the four corners stay black.

    Measures (all in ``quality`` of :meth:`__call__`):

    - ``field``: share of the frame inside the field.
    - ``brightness``: mean grey level in the field, in ``[0, 1]``.
    - ``focus``: the smaller of the standard deviations of the second
      derivative along x and along y (a motion blur flattens one direction
      only) in the field, divided by the mean grey level (so that it does
      not change with exposure).
    - ``halation``: share of field pixels whose brightest channel is at or
      above ``halation_level`` (specular glare saturates a channel first).
    - ``motion``: the shift from the previous frame, as a share of the frame
      width, by phase correlation of 64x64 thumbnails (a difference of
      thumbnails would not do: the strided copy aliases fine texture, so a
      1-pixel jitter changes it more than a slip does); 1.0 when the
      correlation peak is under 0.1 (the view changed wholesale). A motion
      blur is caught by the directional focus.

    The default thresholds were chosen on the 40 demo images and graded
    blurred, darkened and over-exposed copies of them
    (``benchmarks/bench_realtime.py --gate-table``; README "Live CAD").

    Args:
        min_field (float): Least share of the frame in the field.
            Defaults to 0.3.
        min_brightness (float): Least mean field brightness.
            Defaults to 0.07.
        max_halation (float): Most share of saturated field pixels.
            Defaults to 0.15.
        min_focus (float): Least normalised focus. Defaults to 0.15.
        max_motion (float): Most motion (share of the width per frame).
            Defaults to 0.02.
        field_level (int): Grey level (0-255) above which a pixel belongs to
            the field (a channel level for ``halation_level``). Defaults to 12.
        halation_level (int): Grey level counted as saturated.
            Defaults to 250.
        corner (float): Side of the corner squares that must be black, as a
            share of the frame's shorter side. Defaults to 0.03.
        work_width (int): Width of the working copy. Defaults to 160.
    """

    def __init__(self,
                 min_field: float = 0.3,
                 min_brightness: float = 0.07,
                 max_halation: float = 0.15,
                 min_focus: float = 0.15,
                 max_motion: float = 0.02,
                 field_level: int = 12,
                 halation_level: int = 250,
                 corner: float = 0.03,
                 work_width: int = 160) -> None:
        for name, value in dict(
                min_field=min_field,
                min_brightness=min_brightness,
                max_halation=max_halation,
                corner=corner).items():
            if not 0 <= value <= 1:
                raise ValueError(f'{name}={value!r} must be in [0, 1]')
        for name, value in dict(
                min_focus=min_focus, max_motion=max_motion).items():
            if not value >= 0:
                raise ValueError(f'{name}={value!r} must be >= 0')
        if not (isinstance(work_width, int) and work_width >= 16):
            raise ValueError(
                f'work_width={work_width!r} must be an integer >= 16')
        self.min_field = min_field
        self.min_brightness = min_brightness
        self.max_halation = max_halation
        self.min_focus = min_focus
        self.max_motion = max_motion
        self.field_level = int(field_level)
        self.halation_level = int(halation_level)
        self.corner = corner
        self.work_width = work_width
        self._prev: Optional[Tuple[Tuple[int, int], np.ndarray]] = None
        self._window = cv2.createHanningWindow((64, 64), cv2.CV_32F)

    def reset(self) -> None:
        """Forget the previous frame (motion is then 0 for the next one)."""
        self._prev = None

    def _grey(self, frame: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        if frame.ndim != 3 and frame.ndim != 2:
            raise ValueError(f'a frame must be (H, W) or (H, W, 3), got '
                             f'shape {frame.shape}')
        step = max(1, frame.shape[1] // self.work_width)
        small = _subsample(frame, step)
        if small.ndim == 2:
            return small, small
        b, g, r = cv2.split(small)
        peak = cv2.max(cv2.max(b, g), r)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), peak

    def field_mask(self, grey: np.ndarray) -> Tuple[np.ndarray, bool]:
        """The octagonal field of a working grey image.

        Returns:
            tuple: ``(mask (h, w) uint8 0/1, corners_black)``.
        """
        h, w = grey.shape
        bright = grey > self.field_level
        any_row = bright.any(1)
        first = bright.argmax(1)
        last = w - 1 - bright[:, ::-1].argmax(1)
        cols = np.arange(w)
        mask = (cols >= first[:, None]) & (cols <= last[:, None]) & \
            any_row[:, None]
        c = max(1, int(round(self.corner * min(h, w))))
        corners = (grey[:c, :c], grey[:c, -c:], grey[-c:, :c], grey[-c:, -c:])
        black = max(float(x.mean()) for x in corners) <= self.field_level
        return mask.view(np.uint8), black

    def __call__(self, frame: np.ndarray) -> Dict:
        """Measure one frame (BGR or grey ``uint8``) and decide.

        Returns:
            dict: ``accepted`` (bool), ``reason`` (``'ok'`` or the first of
            :data:`REJECT_REASONS` that failed), ``out_of_contact`` (bool)
            and ``quality`` (the measures, floats).
        """
        grey, peak = self._grey(frame)
        mask, black = self.field_mask(grey)
        area = cv2.countNonZero(mask)
        field = area / mask.size
        q = dict(
            field=field, brightness=0.0, focus=0.0, halation=0.0, motion=0.0)
        thumb = cv2.resize(
            grey, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
        prev, self._prev = self._prev, (grey.shape, thumb)
        if field < self.min_field or not black:
            return self._decide('no_field', q)
        mean, _ = cv2.meanStdDev(grey, mask=mask)
        mean = float(mean[0, 0])
        q['brightness'] = mean / 255.0
        if q['brightness'] < self.min_brightness:
            return self._decide('dark', q)
        # the field's rim is an artificial edge: measure inside an eroded
        # field only
        inner = cv2.erode(mask, np.ones((5, 5), np.uint8))
        # second derivatives along x and along y: a motion blur flattens
        # one direction only, which the Laplacian (their sum) would miss
        dxx = cv2.Sobel(grey, cv2.CV_16S, 2, 0, ksize=1)
        dyy = cv2.Sobel(grey, cv2.CV_16S, 0, 2, ksize=1)
        sx = cv2.meanStdDev(dxx, mask=inner)[1][0, 0]
        sy = cv2.meanStdDev(dyy, mask=inner)[1][0, 0]
        q['focus'] = float(min(sx, sy)) / max(mean, 1.0)
        _, hot = cv2.threshold(peak, self.halation_level - 1, 1,
                               cv2.THRESH_BINARY)
        q['halation'] = cv2.countNonZero(hot & mask) / max(1, area)
        if prev is not None and prev[0] == grey.shape:
            (dx,
             dy), peak_response = cv2.phaseCorrelate(prev[1], thumb,
                                                     self._window)
            q['motion'] = min(1.0, float(np.hypot(dx, dy)) / 64) \
                if peak_response >= 0.1 else 1.0
        if q['halation'] > self.max_halation:
            return self._decide('halation', q)
        if q['focus'] < self.min_focus:
            return self._decide('blur', q)
        if q['motion'] > self.max_motion:
            return self._decide('motion', q)
        return self._decide('ok', q)

    @staticmethod
    def _decide(reason: str, quality: Dict) -> Dict:
        return dict(
            accepted=reason == 'ok',
            reason=reason,
            out_of_contact=reason in OUT_OF_CONTACT,
            quality=quality)

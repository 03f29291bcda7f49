# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Frame sources of the live CAD, through OpenCV: a video file, a folder of
frames, a capture device or a stream URL."""
import os
import os.path as osp
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Union

import cv2
import numpy as np

from ..datasets.ecnbi_dataset import IMG_EXTENSIONS


class SourceError(RuntimeError):
    """A source that cannot be opened, or that stopped delivering frames;
    the message names the source and what happened, on one line."""


@dataclass
class Frame:
    """One frame as read from a source.

    Attributes:
        image (np.ndarray): BGR ``uint8`` image ``(H, W, 3)``.
        index (int): Index of the frame in the source (0-based; frames a
            source skipped still count).
        timestamp (float): Seconds from the source's start, as the source
            gives them (the container's presentation time of a file, the
            frame rate for a folder, the arrival time for a device or URL).
        read_time (float): ``time.perf_counter()`` right after reading.
    """
    image: np.ndarray
    index: int
    timestamp: float
    read_time: float = field(default_factory=time.perf_counter)


def _is_device(source) -> bool:
    return isinstance(source, int) or bool(
        re.fullmatch(r'\d+|/dev/video\d+', str(source)))


class FrameSource:
    """Iterate the frames of a source, surviving its usual faults.

    Kinds of source (``kind``):

    - ``'device'``: an integer, a digit string or ``/dev/videoN`` (V4L2).
    - ``'url'``: anything with ``://`` (rtsp, http, udp... through FFmpeg).
    - ``'folder'``: a folder of images, read in name order.
    - ``'file'``: a video file (FFmpeg).

    Faults are survived and written to :attr:`faults` (one dict per fault,
    with ``kind``, ``index`` and a ``message``), and reported through
    ``on_fault`` as they happen:

    - ``'corrupt_frame'``: a folder image that does not decode, or video
      frames the decoder could not read before it read one again; skipped.
    - ``'truncated'``: a file that ends before the frame count its header
      declares (the frames read are kept).
    - ``'resolution_change'``: a frame of another size than the one before;
      it is delivered as it is.
    - ``'reconnect'``: a device or URL that stopped delivering; it is
      reopened after ``backoff`` seconds, doubling up to ``max_backoff``.
    - ``'source_lost'``: ``max_reconnects`` reopenings in a row gave no
      frame; iteration ends (:attr:`stop_reason` says why).

    Args:
        source (int | str): The source.
        fps (float, optional): Frame rate of a folder, or when a file does
            not say. Defaults to None (30).
        max_reconnects (int): Reopenings of a live source before giving up.
            Defaults to 5.
        backoff (float): First wait before a reopening, seconds.
            Defaults to 0.5.
        max_backoff (float): Longest wait. Defaults to 4.
        max_corrupt_run (int): Consecutive unreadable frames of a file after
            which it is taken to have ended. Defaults to 25.
        timeout (float): Longest wait, seconds, to open a device or URL and
            for each of its frames (OpenCV's open and read timeouts).
            Defaults to 5.
        capture_factory (Callable, optional): ``f(source, kind)`` returning
            a ``cv2.VideoCapture``-like object (``isOpened``, ``read``,
            ``get``, ``release``); for tests. Defaults to OpenCV's.
        on_fault (Callable, optional): Called with each fault dict.
    """

    def __init__(self,
                 source: Union[int, str],
                 fps: Optional[float] = None,
                 max_reconnects: int = 5,
                 backoff: float = 0.5,
                 max_backoff: float = 4.0,
                 max_corrupt_run: int = 25,
                 timeout: float = 5.0,
                 capture_factory: Optional[Callable] = None,
                 on_fault: Optional[Callable[[dict], None]] = None) -> None:
        if fps is not None and not fps > 0:
            raise ValueError(f'fps={fps!r} must be positive')
        self.source = source
        if _is_device(source):
            self.kind = 'device'
        elif '://' in str(source):
            self.kind = 'url'
        elif osp.isdir(str(source)):
            self.kind = 'folder'
        elif osp.isfile(str(source)):
            self.kind = 'file'
        else:
            raise FileNotFoundError(
                f'source {source!r} is neither a file, a folder, a capture '
                'device (0, /dev/video0) nor a URL')
        self.max_reconnects = max_reconnects
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_corrupt_run = max_corrupt_run
        self.timeout = timeout
        self.capture_factory = capture_factory or self._open_cv
        self.on_fault = on_fault
        self.faults: List[dict] = []
        self.stop_reason: Optional[str] = None
        self.frames_read = 0
        self._stopped = False
        self._cap = None
        self._files: List[str] = []
        self.declared_frames: Optional[int] = None
        self.fps = float(fps) if fps else 30.0
        if self.kind == 'folder':
            exts = tuple(e.lower() for e in IMG_EXTENSIONS)
            self._files = sorted(
                osp.join(source, f) for f in os.listdir(source)
                if osp.splitext(f)[1].lower() in exts)
            if not self._files:
                raise FileNotFoundError(
                    f'source folder {source!r} holds no image with extension '
                    f'in {exts}')
            self.declared_frames = len(self._files)
        else:
            self._cap = self._open()
            if self._cap is None:
                what = dict(
                    file='video file (truncated, or not a video: '
                    'FFmpeg cannot read its header)',
                    device='capture device',
                    url='stream URL')
                raise SourceError(
                    f'cannot open source {source!r} as a {what[self.kind]}')
            if self.kind == 'file':
                cap_fps = self._cap.get(cv2.CAP_PROP_FPS)
                if not fps and cap_fps and cap_fps > 0:
                    self.fps = float(cap_fps)
                count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
                self.declared_frames = count if count > 0 else None

    @property
    def frame_shape(self) -> Optional[tuple]:
        """``(H, W, 3)`` of the frames as the source declares them (a video
        header, a capture's properties, the first image's header), or None
        when it does not say."""
        try:
            if self.kind == 'folder':
                if not self._files:
                    return None
                from PIL import Image
                with Image.open(self._files[0]) as im:
                    w, h = im.size
            elif self._cap is not None:
                w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
                h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
            else:
                return None
        except Exception:  # noqa: BLE001 (a source that cannot say)
            return None
        return (h, w, 3) if h > 0 and w > 0 else None

    # ------------------------------------------------------------- opening
    def _open_cv(self, source, kind):
        # bounded waits: a stalled device or stream returns a failed read
        # (then a reconnect) instead of blocking the run
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.timeout * 1000), cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.timeout * 1000)
        ]
        if kind == 'device':
            dev = int(re.sub(r'\D', '', str(source)))
            return cv2.VideoCapture(dev, cv2.CAP_V4L2, timeouts)
        return cv2.VideoCapture(
            str(source), cv2.CAP_FFMPEG, timeouts if kind == 'url' else [])

    def _open(self):
        cap = self.capture_factory(self.source, self.kind)
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            return None
        return cap

    def stop(self) -> None:
        """Ask the iteration to end after the current frame (thread-safe)."""
        self._stopped = True

    def release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _fault(self, kind: str, index: int, message: str) -> None:
        fault = dict(kind=kind, index=index, message=message)
        self.faults.append(fault)
        if self.on_fault is not None:
            self.on_fault(fault)

    # ----------------------------------------------------------- iteration
    def __iter__(self) -> Iterator[Frame]:
        prev_shape = None
        try:
            for frame in (self._iter_folder()
                          if self.kind == 'folder' else self._iter_capture()):
                if prev_shape is not None and frame.image.shape != prev_shape:
                    self._fault(
                        'resolution_change', frame.index,
                        f'frame {frame.index} is {frame.image.shape[1]}x'
                        f'{frame.image.shape[0]}, the one before '
                        f'{prev_shape[1]}x{prev_shape[0]}')
                prev_shape = frame.image.shape
                self.frames_read += 1
                yield frame
                if self._stopped:
                    self.stop_reason = self.stop_reason or 'stopped'
                    return
            self.stop_reason = self.stop_reason or 'end'
        finally:
            self.release()

    def _iter_folder(self) -> Iterator[Frame]:
        for i, path in enumerate(self._files):
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                self._fault(
                    'corrupt_frame', i,
                    f'frame {i} ({osp.basename(path)}) does not '
                    'decode; skipped')
                continue
            yield Frame(img, i, i / self.fps)
            if self._stopped:
                return

    def _iter_capture(self) -> Iterator[Frame]:
        index, corrupt_run, start = 0, 0, time.perf_counter()
        live = self.kind in ('device', 'url')
        while not self._stopped:
            ok, img = self._cap.read()
            if ok and img is not None and img.size:
                if corrupt_run:
                    # unreadable frames followed by readable ones: corrupt
                    first = index - corrupt_run
                    self._fault(
                        'corrupt_frame', first,
                        f'frame(s) {first}-{index - 1} of {self.source} '
                        'could not be decoded; skipped')
                    corrupt_run = 0
                if img.ndim == 2:
                    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
                if live:
                    ts = time.perf_counter() - start
                else:
                    ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
                    ts = ms / 1000.0 if ms and ms > 0 else index / self.fps
                yield Frame(img, index, ts)
                index += 1
                continue
            if live:
                if not self._reconnect(index):
                    return
                continue
            # A file: a failed read is the end, a corrupt packet, or a
            # truncation. Past the declared count it is the end.
            if self.declared_frames is None or \
                    index >= self.declared_frames:
                return
            corrupt_run += 1
            index += 1
            if corrupt_run >= self.max_corrupt_run or \
                    index >= self.declared_frames:
                self._fault(
                    'truncated', index - corrupt_run,
                    f'{self.source} is truncated: it ends after '
                    f'{self.frames_read} readable frames although its '
                    f'header declares {self.declared_frames}')
                return

    def _reconnect(self, index: int) -> bool:
        wait = self.backoff
        for attempt in range(1, self.max_reconnects + 1):
            self._fault(
                'reconnect', index,
                f'source {self.source!r} stopped delivering frames; '
                f'reconnect {attempt}/{self.max_reconnects} in {wait:.2g} s')
            self.release()
            time.sleep(wait)
            if self._stopped:
                return False
            self._cap = self._open()
            if self._cap is not None:
                ok, img = self._cap.read()
                if ok and img is not None:
                    # give the frame back through a one-frame buffer
                    self._cap = _Prepend(self._cap, img)
                    return True
            wait = min(wait * 2, self.max_backoff)
        self.stop_reason = (f'source {self.source!r} lost: no frame after '
                            f'{self.max_reconnects} reconnects')
        self._fault('source_lost', index, self.stop_reason)
        return False


class _Prepend:
    """A capture that first returns one frame already read."""

    def __init__(self, cap, img):
        self._cap, self._img = cap, img

    def read(self):
        if self._img is not None:
            img, self._img = self._img, None
            return True, img
        return self._cap.read()

    def __getattr__(self, name):
        return getattr(self._cap, name)

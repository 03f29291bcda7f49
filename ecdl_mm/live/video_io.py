# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Writing annotated video: an OpenCV writer of even size, :func:`fit_to`
for frames of another size, and :class:`AsyncVideoWriter`, which encodes in
its own thread."""
import os
import threading
from typing import Optional

import cv2
import numpy as np


class _Writer:

    def __init__(self, writer, size):
        self.writer, self.size = writer, size

    def write(self, img):
        self.writer.write(img)

    def release(self):
        self.writer.release()


def open_video_writer(path: str, fps: float, width: int, height: int):
    """An OpenCV video writer (mp4v for ``.mp4``, MJPG for ``.avi``), of even
    width and height (what the codecs take); write frames through
    :func:`fit_to` with its ``size``."""
    width, height = int(width) // 2 * 2, int(height) // 2 * 2
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    fourcc = 'MJPG' if path.lower().endswith('.avi') else 'mp4v'
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), float(fps),
                             (int(width), int(height)))
    if not writer.isOpened():
        raise OSError(f'cannot write video {path!r} ({fourcc})')
    return _Writer(writer, (int(width), int(height)))


def fit_to(img: np.ndarray, size) -> np.ndarray:
    """``img`` at ``size = (w, h)``: cropped by the odd pixel, or resized
    (a resolution change mid-stream keeps the output video's size)."""
    if (img.shape[1], img.shape[0]) != tuple(size):
        return cv2.resize(img, tuple(size), interpolation=cv2.INTER_AREA)
    return img


class AsyncVideoWriter:
    """Encode the annotated video in its own thread, so that encoding never
    holds up the display. Every frame is written (the queue blocks when
    ``max_queue`` frames wait, it never drops one)."""

    def __init__(self,
                 path: str,
                 fps: float,
                 width: int,
                 height: int,
                 max_queue: int = 64) -> None:
        import queue
        self._writer = open_video_writer(path, fps, width, height)
        self.size = self._writer.size
        self._queue = queue.Queue(maxsize=max_queue)
        self.written = 0
        self.error: Optional[str] = None
        self._thread = threading.Thread(
            target=self._run, name='ecdl-video-writer', daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            img = self._queue.get()
            if img is None:
                return
            try:
                self._writer.write(img)
                self.written += 1
            except Exception as e:  # keep draining: never block the caller
                self.error = f'{type(e).__name__}: {e}'

    def write(self, img: np.ndarray) -> None:
        self._queue.put(fit_to(img, self.size))

    def release(self, timeout: float = 60.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
        self._writer.release()


__all__ = ['open_video_writer', 'fit_to', 'AsyncVideoWriter']

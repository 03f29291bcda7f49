# Copyright (c) ecdl_mm contributors. All rights reserved.
"""One live CAD session: source -> gate -> model thread -> lesion calls, with
the annotated video, ``events.jsonl`` and ``lesions.csv`` written as it
goes."""
import threading
import time
import traceback
from collections import Counter, OrderedDict
from typing import Callable, Dict, List, Optional

import cv2

from .frame_source import FrameSource
from .gate_overlap import GateVerdict, model_on_gpu
from .jsonl_writer import JsonlWriter, _jsonable  # noqa: F401 (re-exported)
from .live_labels import read_labels
from .live_overlay import draw_overlay
from .newest_slot import NewestSlot
from .session_records import SessionRecords
from .stream_inferencer import StreamInferencer
from .video_io import AsyncVideoWriter, fit_to, open_video_writer


class LiveSession(SessionRecords):
    """Run the live CAD on one source.

    The main thread reads frames, gates them, segments lesions, draws the
    overlay and writes the annotated video at the source's frame rate. The
    model runs in a worker thread fed through a :class:`NewestSlot`: while
    it is busy, newer accepted frames replace the waiting one. Every result
    the worker produces updates the lesion's running call; the overlay shows
    the latest call and how old it is.

    Faults end the run cleanly, with everything so far written: the source's
    own faults (see :class:`FrameSource`), an exception in the model thread,
    and :meth:`request_stop` (SIGINT in ``tools/realtime.py``).

    Args:
        inferencer (StreamInferencer): Model, gate, tracker settings.
        source (FrameSource): The opened source.
        out_video (str, optional): Annotated video path.
        events (str, optional): ``events.jsonl`` path.
        lesions_csv (str, optional): ``lesions.csv`` path (the columns of
            ``lesion_predictions.csv``).
        labels (dict, optional): Ground truth by lesion id (see
            :func:`read_labels`).
        pace (bool): Read a file or folder at its frame rate, as a camera
            delivers (the replayer of a recorded video); False reads as fast
            as possible. Defaults to True.
        show (bool): Show a window (key ``n``: new lesion, ``q``: quit).
            Defaults to False.
        log (Callable): Where progress and fault lines go. Defaults to
            print.
        progress_every (float): Seconds between progress lines; 0 for none.
            Defaults to 2.
        drain_timeout (float): Longest wait for the model thread at the end.
            Defaults to 30.
        overlap_gate (bool, optional): Hand each frame to the model thread
            before the quality gate and drop the result of a rejected frame
            (:mod:`~ecdl_mm.live.gate_overlap`: on a GPU the gate and the
            model stage overlap). Defaults to None: only when the model is on
            a GPU.
    """

    def __init__(self,
                 inferencer: StreamInferencer,
                 source: FrameSource,
                 out_video: Optional[str] = None,
                 events: Optional[str] = None,
                 lesions_csv: Optional[str] = None,
                 labels: Optional[Dict[str, dict]] = None,
                 pace: bool = True,
                 show: bool = False,
                 log: Callable[[str], None] = print,
                 progress_every: float = 2.0,
                 drain_timeout: float = 30.0,
                 overlap_gate: Optional[bool] = None) -> None:
        self.inf = inferencer
        self.overlap_gate = model_on_gpu(inferencer) \
            if overlap_gate is None else bool(overlap_gate)
        self.source = source
        self.out_video = out_video
        self.lesions_csv = lesions_csv
        self.labels = labels
        self.pace = pace and source.kind in ('file', 'folder')
        self.show = show
        self.log = log
        self.progress_every = progress_every
        self.drain_timeout = drain_timeout
        self.events = JsonlWriter(events)
        self.tracker = inferencer.new_tracker()
        inferencer.tracker = self.tracker
        self.slot = NewestSlot()
        self._lock = threading.Lock()
        self._pending: Counter = Counter()
        self._emitted: 'OrderedDict[str, dict]' = OrderedDict()
        self._latest: Optional[tuple] = None  # (call, read_time)
        self._stop_reason: Optional[str] = None
        self.worker_error: Optional[str] = None
        self.latencies: List[float] = []
        self.model_times: List[float] = []
        self.gate_times: List[float] = []
        self.loop_times: List[float] = []
        self.counts: Counter = Counter()
        self.late_frames = 0
        source.on_fault = self._on_fault

    # -------------------------------------------------------------- control
    def request_stop(self, reason: str = 'stopped') -> None:
        """End the run after the current frame (thread- and signal-safe)."""
        self._stop_reason = self._stop_reason or reason
        self.source.stop()

    def mark_new_lesion(self) -> None:
        with self._lock:
            self.tracker.mark()

    def _on_fault(self, fault: dict) -> None:
        self.events.write(dict(type='fault', **fault))
        self.log(f"[{fault['kind']}] {fault['message']}")

    # --------------------------------------------------------------- worker
    def _worker(self) -> None:
        while True:
            item = self.slot.get()
            if item is None:
                if self.slot.closed:
                    return
                continue
            frame, lid, meta, verdict = item
            try:
                t0 = time.perf_counter()
                data = self.inf.collate([frame.image])
                probs = self.inf.predict_probs(data)[0]
                t1 = time.perf_counter()
                if verdict is not None:  # gated beside the model
                    verdict.wait(self.drain_timeout)
                    if not verdict.used:
                        continue  # rejected: its event is written already
                    lid, meta = verdict.lesion_id, verdict.meta
                with self._lock:
                    self.tracker.update(lid, frame.index, frame.timestamp,
                                        probs)
                    self._latest = (lid, frame.read_time)
                    self._pending[lid] -= 1
                    self.model_times.append(t1 - t0)
                    latency = time.perf_counter() - frame.read_time
                    self.latencies.append(latency)
                    self.counts['used'] += 1
                self._frame_event(
                    frame, lid, meta, used=True, probs=probs, latency=latency)
            except Exception as e:  # the run must end, not hang
                self.worker_error = (f'model thread failed on frame '
                                     f'{frame.index}: {type(e).__name__}: '
                                     f'{e}')
                self.events.write(
                    dict(
                        type='fault',
                        kind='model_error',
                        index=frame.index,
                        message=self.worker_error,
                        traceback=traceback.format_exc()))
                if verdict is not None:
                    lid = verdict.lesion_id if verdict.known else None
                if lid is not None:
                    with self._lock:
                        self._pending[lid] -= 1
                self.request_stop(self.worker_error)
                return
            finally:
                self.slot.done()

    # -------------------------------------------------------------- lesions
    def _emit_ready(self, final: bool = False) -> None:
        with self._lock:
            ready = [
                lid for lid in self.tracker.closed_ids()
                if lid not in self._emitted and (
                    final or self._pending[lid] <= 0)
            ]
            calls = [self.tracker.lesion_call(lid) for lid in ready]
        for call in calls:
            self._emitted[call['lesion_id']] = call
            self.events.write(dict(type='lesion', **call))
            if call['diagnosed']:
                self.log(f"lesion {call['lesion_id']}: {call['pred_class']} "
                         f"confidence {call['confidence']:.2f} "
                         f"({call['num_images']} frames"
                         f"{', uncertain' if call['uncertain'] else ''})")
            else:
                self.log(f"lesion {call['lesion_id']}: no diagnosis (no "
                         'frame passed the quality gate)')

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        """Process the whole source; returns the summary (also the last
        line of the events file)."""
        self.events.write(
            dict(
                type='session',
                source=str(self.source.source),
                kind=self.source.kind,
                fps=self.source.fps,
                classes=list(self.inf.classes),
                gate=self.inf.gate_cfg,
                backend=self.inf.backend_name,
                overlap_gate=self.overlap_gate,
                operating_point=self.inf.operating_point.to_dict()))
        self.inf.gate.reset()
        _ = self.inf.backend  # build (trace, quantise) before the clock
        shape = getattr(self.source, 'frame_shape', None)
        warmup = getattr(self.inf, 'warmup', None)  # an inferencer may not
        if shape is not None and warmup is not None:
            warmup(shape)  # the frames' graph and buffers, likewise
        worker = threading.Thread(
            target=self._worker, name='ecdl-model', daemon=True)
        worker.start()
        writer = None
        period = 1.0 / self.source.fps
        t_start = time.perf_counter()
        last_progress = t_start
        status = 'end'
        try:
            for frame in self.source:
                if self.pace:
                    due = t_start + frame.timestamp
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    frame.read_time = time.perf_counter()
                self.counts['read'] += 1
                verdict = GateVerdict() if self.overlap_gate else None
                if verdict is not None:  # the model starts before the gate
                    self._superseded(
                        self.slot.put((frame, None, None, verdict)))
                try:
                    t_gate = time.perf_counter()
                    meta = self.inf.gate(frame.image)
                    self.gate_times.append(time.perf_counter() - t_gate)
                    with self._lock:
                        lid = self.tracker.observe(frame.index,
                                                   frame.timestamp,
                                                   meta['out_of_contact'])
                except BaseException:
                    if verdict is not None:
                        verdict.set(False)
                    raise
                used = meta['accepted'] and lid is not None
                if used:
                    with self._lock:
                        self._pending[lid] += 1
                if verdict is not None:
                    verdict.set(used, lid, meta)
                elif used:
                    self._superseded(self.slot.put((frame, lid, meta, None)))
                if not used:
                    self.counts[
                        f"rejected_{meta['reason']}"
                        if not meta['accepted'] else 'between_lesions'] += 1
                    self._frame_event(
                        frame,
                        lid,
                        meta,
                        used=False,
                        why=None if meta['accepted'] else 'gate')
                self._emit_ready()
                with self._lock:
                    call = self.tracker.running_call(lid)
                    latest = self._latest
                age = (time.perf_counter() - latest[1]) \
                    if call is not None and latest and latest[0] == lid \
                    else None
                if self.out_video or self.show:
                    img = draw_overlay(frame.image, call, meta, age)
                    if self.out_video:
                        if writer is None:
                            writer = AsyncVideoWriter(self.out_video,
                                                      self.source.fps,
                                                      img.shape[1],
                                                      img.shape[0])
                        writer.write(img)
                    if self.show:
                        self._show(img)
                now = time.perf_counter()
                self.loop_times.append(now - frame.read_time)
                if self.pace and now > t_start + frame.timestamp + period:
                    self.late_frames += 1
                if self.progress_every and \
                        now - last_progress >= self.progress_every:
                    last_progress = now
                    self.log(self._progress_line(now - t_start))
            if self.source.stop_reason not in (None, 'end', 'stopped'):
                status = 'source_lost'
                self._stop_reason = self._stop_reason or \
                    self.source.stop_reason
        except KeyboardInterrupt:
            self._stop_reason = self._stop_reason or 'interrupted (SIGINT)'
        finally:
            with self._lock:
                self.tracker.finish()
            deadline = time.perf_counter() + self.drain_timeout
            while worker.is_alive() and time.perf_counter() < deadline and \
                    not self.slot.wait_idle(0.05):
                pass  # a dead worker leaves the slot busy: check it too
            self.slot.close()
            worker.join(max(0.0, deadline - time.perf_counter()))
            self._emit_ready(final=True)
            if writer is not None:
                writer.release()
                self.counts['written'] = writer.written
            if self.show:
                cv2.destroyAllWindows()
            self.write_lesions_csv()
            if self.worker_error:
                status = 'model_error'
            elif self._stop_reason and status == 'end':
                status = 'interrupted' if 'SIGINT' in self._stop_reason \
                    else 'stopped'
            summary = self.summary(status, time.perf_counter() - t_start)
            self.events.write(dict(type='end', **summary))
            self.events.close()
        return summary

    def _show(self, img) -> None:
        cv2.imshow('ecdl_mm live CAD', img)
        key = cv2.waitKey(1) & 0xFF
        if key == ord('n'):
            self.mark_new_lesion()
        elif key in (ord('q'), 27):
            self.request_stop('quit from the window')


# The session's parts, importable from here as before they had modules.
__all__ = [
    'LiveSession', 'NewestSlot', 'AsyncVideoWriter', 'JsonlWriter',
    'read_labels', 'fit_to', 'open_video_writer'
]

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""What a :class:`~ecdl_mm.live.LiveSession` writes and reports: frame
events, frames the model never saw, ``lesions.csv``, progress lines and the
summary."""
from typing import Optional

import numpy as np

from .frame_source import Frame


class SessionRecords:
    """The record keeping of :class:`~ecdl_mm.live.LiveSession` (a mixin:
    it reads the session's counters, tracker, events writer and lock)."""

    def _frame_event(self,
                     frame: Frame,
                     lid,
                     meta,
                     used,
                     probs=None,
                     latency=None,
                     why=None) -> None:
        rec = dict(
            type='frame',
            frame=frame.index,
            time=round(frame.timestamp, 6),
            accepted=meta['accepted'],
            reason=meta['reason'],
            quality={
                k: round(v, 5)
                for k, v in meta['quality'].items()
            },
            lesion_id=lid,
            used=used,
            probs=None if probs is None else [float(p) for p in probs])
        if why:
            rec['not_used'] = why
        if latency is not None:
            rec['latency_ms'] = round(latency * 1000, 3)
        self.events.write(rec)

    def _superseded(self, old) -> None:
        """Account for a frame the model will never see (replaced in the
        slot by a newer one); a rejected frame's event is written."""
        if old is None:
            return
        frame, lid, meta, verdict = old
        if verdict is not None:
            if not verdict.used:
                return
            lid, meta = verdict.lesion_id, verdict.meta
        with self._lock:
            self._pending[lid] -= 1
        self.counts['superseded'] += 1
        self._frame_event(frame, lid, meta, used=False, why='model_busy')

    def write_lesions_csv(self) -> Optional[str]:
        """Rows of the diagnosed lesions: the lesion table of
        ``lesion_predictions.csv`` (:mod:`ecdl_mm.evaluation.lesion_table`)
        with the calibrated columns, and the metadata the labels file
        gives."""
        if not self.lesions_csv:
            return None
        from ..evaluation.lesion_table import (live_lesion_table,
                                               write_lesion_table)
        rows, columns = live_lesion_table(self._emitted.values(),
                                          list(self.inf.classes), self.labels)
        write_lesion_table(rows, self.lesions_csv, columns)
        return self.lesions_csv

    def _progress_line(self, elapsed: float) -> str:
        c = self.counts
        rejected = sum(v for k, v in c.items() if k.startswith('rejected'))
        return (f'{c["read"]} frames in {elapsed:.1f} s '
                f'({c["read"] / max(elapsed, 1e-9):.1f} fps), '
                f'{c["used"]} diagnosed, {rejected} rejected by the gate, '
                f'{len(self.tracker.lesions)} lesions')

    def summary(self, status: str, elapsed: float) -> dict:
        lat = np.asarray(self.latencies) * 1000
        mt = np.asarray(self.model_times) * 1000
        lt = np.asarray(self.loop_times) * 1000
        pct = (lambda a, q: round(float(np.percentile(a, q)), 3)
               if len(a) else None)
        return dict(
            status=status,
            reason=self._stop_reason or self.source.stop_reason,
            elapsed_s=round(elapsed, 3),
            counts=dict(self.counts),
            late_frames=self.late_frames,
            lesions=len(self._emitted),
            diagnosed_lesions=sum(1 for c in self._emitted.values()
                                  if c['diagnosed']),
            latency_ms_p50=pct(lat, 50),
            latency_ms_p99=pct(lat, 99),
            model_ms_p50=pct(mt, 50),
            gate_ms_p50=pct(np.asarray(self.gate_times) * 1000, 50),
            overlap_gate=self.overlap_gate,
            display_ms_p50=pct(lt, 50),
            display_ms_p99=pct(lt, 99),
            faults=[f['kind'] for f in self.source.faults] +
            (['model_error'] if self.worker_error else []))

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Temporal aggregation of frame predictions into lesion calls."""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..evaluation.functional import AGGREGATIONS, aggregate_lesions
from ..evaluation.operating_point import OperatingPoint


@dataclass
class _Lesion:
    lesion_id: str
    start_index: int
    start_time: float
    end_index: int
    end_time: float
    frames: List[int] = field(default_factory=list)
    times: List[float] = field(default_factory=list)
    scores: List[np.ndarray] = field(default_factory=list)
    running: Optional[np.ndarray] = None
    shown: Optional[int] = None
    closed: bool = False


class LesionTracker:
    """Split a stream into lesions and keep a running call for each.

    A lesion starts at the first in-contact frame after a gap and ends at the
    last in-contact frame before a run of ``new_lesion_after`` out-of-contact
    (dark or no-field) frames, or at :meth:`mark` (a key in the window, an
    API call). The frames of a lesion that passed the quality gate and were
    diagnosed are its *used* frames.

    - The **running call** (what the overlay shows) is an exponential moving
      average of the used frames' probabilities (``ema``, weight of the new
      frame) with hysteresis: the shown class changes only when another
      class beats it by ``hysteresis``, so the display does not flicker.
    - The **lesion call** (events, ``lesions.csv``) aggregates all used
      frames with :meth:`ecdl_mm.evaluation.LesionMetric.aggregate` (the
      metric's own ``'mean'`` / ``'vote'`` / ``'max'``), as the still-image
      lesion test does. Its confidence is the operating point's calibrated
      top probability; it is ``uncertain`` when
      :meth:`OperatingPoint.is_uncertain` says so (too few used frames or a
      confidence under ``min_confidence``).

    Args:
        operating_point (OperatingPoint): Classes, calibration and
            abstention thresholds.
        aggregation (str): One of the metric's aggregations.
            Defaults to 'mean'.
        ema (float): Weight of a new frame in the running call, in
            ``(0, 1]``. Defaults to 0.3.
        hysteresis (float): Margin another class needs over the shown one.
            Defaults to 0.1.
        new_lesion_after (int): Out-of-contact frames that end a lesion.
            Defaults to 15 (half a second at 30 fps).
        id_prefix (str): Lesion ids are ``f'{id_prefix}{n}'``, n from 1.
            Defaults to ''.
    """

    def __init__(self,
                 operating_point: OperatingPoint,
                 aggregation: str = 'mean',
                 ema: float = 0.3,
                 hysteresis: float = 0.1,
                 new_lesion_after: int = 15,
                 id_prefix: str = '') -> None:
        if aggregation not in AGGREGATIONS:
            raise ValueError(f'aggregation={aggregation!r} must be one of '
                             f'{AGGREGATIONS}')
        if not 0 < ema <= 1:
            raise ValueError(f'ema={ema!r} must be in (0, 1]')
        if not 0 <= hysteresis < 1:
            raise ValueError(f'hysteresis={hysteresis!r} must be in [0, 1)')
        if not (isinstance(new_lesion_after, int) and new_lesion_after >= 1):
            raise ValueError(f'new_lesion_after={new_lesion_after!r} must be '
                             'a positive integer')
        self.op = operating_point
        self.classes = list(operating_point.classes)
        self.aggregation = aggregation
        self.ema = ema
        self.hysteresis = hysteresis
        self.new_lesion_after = new_lesion_after
        self.id_prefix = id_prefix
        self.lesions: 'OrderedDict[str, _Lesion]' = OrderedDict()
        self.current: Optional[_Lesion] = None
        self._gap = 0
        self._count = 0

    # ---------------------------------------------------------- segments
    def observe(self, index: int, timestamp: float,
                out_of_contact: bool) -> Optional[str]:
        """Register a frame's contact state.

        Returns:
            str | None: The lesion the frame belongs to (None between
            lesions).
        """
        if out_of_contact:
            self._gap += 1
            if self.current is not None and \
                    self._gap >= self.new_lesion_after:
                self._close()
            return self.current.lesion_id if self.current else None
        self._gap = 0
        if self.current is None:
            self._count += 1
            lid = f'{self.id_prefix}{self._count}'
            self.current = _Lesion(lid, index, timestamp, index, timestamp)
            self.lesions[lid] = self.current
        self.current.end_index, self.current.end_time = index, timestamp
        return self.current.lesion_id

    def mark(self) -> None:
        """End the current lesion now; the next in-contact frame starts a
        new one."""
        self._close()

    def _close(self) -> None:
        if self.current is not None:
            self.current.closed = True
        self.current = None

    # ------------------------------------------------------------- calls
    def update(self, lesion_id: str, index: int, timestamp: float,
               probs: Sequence[float]) -> Dict:
        """Add a used frame's probabilities to its lesion.

        Returns:
            dict: The running call (see :meth:`running_call`).
        """
        les = self.lesions[lesion_id]
        p = np.asarray(probs, dtype=np.float64)
        les.frames.append(int(index))
        les.times.append(float(timestamp))
        les.scores.append(p)
        les.running = p.copy() if les.running is None else \
            (1 - self.ema) * les.running + self.ema * p
        best = int(les.running.argmax())
        if les.shown is None or (les.running[best] - les.running[les.shown]
                                 > self.hysteresis):
            les.shown = best
        return self.running_call(lesion_id)

    def running_call(self, lesion_id: Optional[str]) -> Optional[Dict]:
        """``lesion_id``, ``pred_label``, ``pred_class``, ``confidence``
        (calibrated running probability of the shown class),
        ``frames_used`` and ``uncertain``; None before the first used
        frame."""
        les = self.lesions.get(lesion_id) if lesion_id else None
        if les is None or les.running is None:
            return None
        cal = self.op.calibrate(les.running)
        return dict(
            lesion_id=les.lesion_id,
            pred_label=les.shown,
            pred_class=self.classes[les.shown],
            confidence=float(cal[les.shown]),
            frames_used=len(les.frames),
            uncertain=bool(
                self.op.is_uncertain(cal[None], [len(les.frames)])[0]))

    def lesion_call(self, lesion_id: str) -> Dict:
        """The lesion event: ids, start and end (frame index and seconds),
        ``num_images`` (used frames), ``frames`` (their indices),
        ``pred_scores`` (aggregated), ``pred_label``, ``pred_class``,
        ``cal_scores`` (the aggregate, calibrated), ``confidence`` (its
        value for ``pred_class``: temperature keeps the order, so it is
        the calibrated top probability), ``uncertain`` and ``diagnosed`` (False
        for a lesion without a used frame, which has no class)."""
        les = self.lesions[lesion_id]
        out = dict(
            lesion_id=les.lesion_id,
            start_index=les.start_index,
            end_index=les.end_index,
            start_time=les.start_time,
            end_time=les.end_time,
            num_images=len(les.frames),
            frames=list(les.frames))
        if not les.scores:
            out.update(
                diagnosed=False,
                pred_scores=None,
                pred_label=None,
                pred_class=None,
                cal_scores=None,
                confidence=None,
                uncertain=True)
            return out
        _, agg, pred, _ = aggregate_lesions(
            np.stack(les.scores), [lesion_id] * len(les.scores),
            self.aggregation)
        cal = self.op.calibrate(agg)
        label = int(pred[0])
        out.update(
            diagnosed=True,
            pred_scores=[float(x) for x in agg[0]],
            pred_label=label,
            pred_class=self.classes[label],
            cal_scores=[float(x) for x in cal[0]],
            confidence=float(cal[0, label]),
            uncertain=bool(self.op.is_uncertain(cal, [len(les.scores)])[0]))
        return out

    def closed_ids(self) -> List[str]:
        return [lid for lid, les in self.lesions.items() if les.closed]

    def finish(self) -> None:
        """End of stream: close the current lesion."""
        self._close()

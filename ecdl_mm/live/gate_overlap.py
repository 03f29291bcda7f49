# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The quality gate beside the model: the live loop hands a frame to the
model thread before gating it and sends the gate's verdict after.

On a GPU the model stage of a frame (upload, pre-processing, the flip pair,
the copy back: ~2 ms for ViT-B/16 on an H200) and the gate on the CPU
(~1.1 ms) then overlap, and a frame's latency is about the longer of the
two instead of their sum. The model's result for a frame the gate rejects
is dropped unread. On a CPU the two would compete for the same cores and a
rejected frame would hold the model while an accepted one waits, so
:class:`~ecdl_mm.live.LiveSession` overlaps them only when the model is on
a GPU (``overlap_gate=None``).
"""
import threading
from typing import Optional


class GateVerdict:
    """What the gate decided for a frame the model thread already has.

    Attributes:
        used (bool): The frame counts for its lesion (accepted, inside a
            lesion).
        lesion_id: The lesion it counts for (None when not used).
        meta (dict): The gate's result.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.used = False
        self.lesion_id = None
        self.meta: Optional[dict] = None

    def set(self, used: bool, lesion_id=None, meta=None) -> None:
        self.used, self.lesion_id, self.meta = bool(used), lesion_id, meta
        self._event.set()

    @property
    def known(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> 'GateVerdict':
        """The verdict, once the gate has given it.

        Raises:
            TimeoutError: No verdict within ``timeout`` seconds (the reading
                loop stopped between handing the frame over and gating it).
        """
        if not self._event.wait(timeout):
            raise TimeoutError(
                f'no quality-gate verdict for the frame within {timeout:g} s '
                '(the reading loop stopped while the model ran)')
        return self


def model_on_gpu(inferencer) -> bool:
    """Whether the inferencer's model runs on a CUDA device."""
    model = getattr(inferencer, 'model', None)
    try:
        return next(model.parameters()).device.type == 'cuda'
    except (AttributeError, StopIteration):
        return False

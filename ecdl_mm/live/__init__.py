# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The live CAD: a frame source, the quality gate, the stream inferencer,
the lesion tracker, the overlay and the session that runs them
(``tools/realtime.py``)."""
from .frame_quality_gate import FrameQualityGate
from .frame_source import Frame, FrameSource, SourceError
from .lesion_tracker import LesionTracker
from .live_session import LiveSession, NewestSlot
from .stream_inferencer import StreamInferencer

__all__ = [
    'FrameQualityGate', 'Frame', 'FrameSource', 'SourceError', 'LesionTracker',
    'LiveSession', 'NewestSlot', 'StreamInferencer'
]

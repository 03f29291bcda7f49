from .frame_quality_gate import FrameQualityGate
from .frame_source import Frame, FrameSource, SourceError
from .lesion_inferencer import (LesionInferencer, LesionInputError,
                                LooseImagesWarning)
from .lesion_tracker import LesionTracker
from .live_session import LiveSession, NewestSlot
from .stream_inferencer import StreamInferencer

__all__ = [
    'LesionInferencer', 'LesionInputError', 'LooseImagesWarning',
    'FrameQualityGate', 'Frame', 'FrameSource', 'SourceError',
    'LesionTracker', 'LiveSession', 'NewestSlot', 'StreamInferencer'
]

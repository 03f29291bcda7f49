from .lesion_inferencer import LesionInferencer  # noqa: F401
from .frame_quality_gate import FrameQualityGate  # noqa: F401
from .frame_source import Frame, FrameSource, SourceError  # noqa: F401
from .lesion_tracker import LesionTracker  # noqa: F401
from .live_session import LiveSession, NewestSlot  # noqa: F401
from .stream_inferencer import StreamInferencer  # noqa: F401

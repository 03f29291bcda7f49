# Copyright (c) ecdl_mm contributors. All rights reserved.
from .attention import QVBiasAttention
from .position_embedding import build_1d_sincos_position_embedding

__all__ = ['QVBiasAttention', 'build_1d_sincos_position_embedding']

# Copyright (c) ecdl_mm contributors. All rights reserved.
from .attention import QVBiasAttention
from .drop_path import DropPath
from .masked_tokens import expand_ids, masked_ids, take_tokens
from .position_embedding import build_1d_sincos_position_embedding

__all__ = [
    'DropPath', 'QVBiasAttention', 'build_1d_sincos_position_embedding',
    'expand_ids', 'masked_ids', 'take_tokens'
]

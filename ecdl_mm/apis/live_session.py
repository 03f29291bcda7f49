# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Moved to :mod:`ecdl_mm.live.live_session`
(this path works until the next release)."""
from ecdl_mm.utils.deprecation import moved_module

moved_module(__name__, 'ecdl_mm.live.live_session')

# Copyright (c) ecdl_mm contributors. All rights reserved.
from .backends import AtomicLocalBackend

__all__ = ['AtomicLocalBackend']

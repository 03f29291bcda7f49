# Copyright (c) ecdl_mm contributors. All rights reserved.
from . import functional  # noqa: F401  the evaluation core
from .metrics import *  # noqa: F401,F403

# Copyright (c) ecdl_mm contributors. All rights reserved.
from .backbones import *  # noqa: F401,F403
from .builder import load_model  # noqa: F401
from .data_preprocessors import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .selfsup import *  # noqa: F401,F403

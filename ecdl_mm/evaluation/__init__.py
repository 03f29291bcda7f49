from . import functional  # noqa: F401  the evaluation core
from .metrics import *  # noqa: F401,F403

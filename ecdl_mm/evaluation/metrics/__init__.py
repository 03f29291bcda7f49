# Copyright (c) ecdl_mm contributors. All rights reserved.
from .lesion_metric import LesionMetric  # noqa: F401

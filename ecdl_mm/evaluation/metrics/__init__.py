from .lesion_metric import LesionMetric  # noqa: F401

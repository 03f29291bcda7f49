# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Writing analysis results: JSON with NaN as null, flat CSV tables."""
import json
import math
from typing import Sequence

import numpy as np


def jsonable(obj):
    """``obj`` with numpy values as Python ones and NaN / inf as None
    (strict JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_default(v):
    """``json.dump``'s ``default`` for numpy values (arrays as lists, scalars
    as Python numbers); anything else is a ``TypeError`` naming its type."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f'{type(v).__name__} is not JSON serialisable')


def save_json(obj, path: str) -> str:
    """Write :func:`jsonable` ``obj`` to ``path`` (indented, strict)."""
    with open(path, 'w') as f:
        json.dump(jsonable(obj), f, indent=2, allow_nan=False)
    return path


def save_csv(rows: Sequence[dict], path: str) -> str:
    """Write rows of dicts as a CSV (columns in first-seen order; nested
    lists are written as JSON text)."""
    import pandas as pd
    flat = [{
        k: json.dumps(jsonable(v)) if isinstance(v, (list, dict)) else v
        for k, v in r.items()
    } for r in rows]
    pd.DataFrame(flat).to_csv(path, index=False)
    return path

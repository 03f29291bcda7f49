# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The lesion bootstrap: one engine for every resampled interval.

:class:`~ecdl_mm.evaluation.LesionMetric`, ``clinical/model_comparison``,
``clinical/reader_study`` and ``clinical/subgroups`` all resample the same
way, through :func:`bootstrap_distribution`:

* **Units.** Resamples draw units (lesions) with replacement; a unit is
  drawn with all its rows (the images of a lesion, the reads of a lesion by
  every reader). A statistic sees a resample as weights, the multiplicity of
  every unit (or, with ``units``, of every row), so every model, reader and
  level is evaluated on the same resamples (paired).
* **Random stream.** One ``numpy.random.default_rng(seed)``; ``chunk`` rows
  of multiplicities at a time, each chunk drawn as
  ``rng.integers(0, num_units, size=(r, num_units))``. The numbers depend
  on ``seed``, ``rounds`` and ``chunk``.
* **Statistics.** A callable from weights ``(r, N)`` to a mapping of named
  ``(r, ...)`` arrays, several statistics at once; the engine concatenates
  each over the chunks and keeps the callable's key order.
* **Degenerate resamples.** A statistic that is undefined in a resample
  (a class without positives drawn) is NaN there, and
  :func:`percentile_interval` leaves NaN rounds out. How a mean over
  classes treats a class undefined in a resample differs between callers and
  is :func:`resampled_mean`'s ``missing`` argument.

Part of :mod:`ecdl_mm.evaluation.functional` (conventions there).
"""
from collections import OrderedDict
from typing import Callable, Hashable, Iterator, Mapping, Optional, Tuple

import numpy as np

from .rates import nanmean_or_nan

__all__ = [
    'bootstrap_multiplicities', 'bootstrap_distribution',
    'bootstrap_intervals', 'percentile_interval', 'resampled_mean',
    'MISSING_CLASS'
]

# how resampled_mean treats a class undefined (NaN) in a resample
MISSING_CLASS = ('skip', 'nan')


def bootstrap_multiplicities(num: int,
                             rounds: int,
                             seed: int = 0,
                             chunk: int = 500) -> Iterator[np.ndarray]:
    """Multiplicities of ``num`` units (lesions) in bootstrap resamples.

    Yields arrays ``(r, num)`` of how often each unit is drawn, ``r <=
    chunk`` rows at a time, ``rounds`` rows in all, from one
    ``numpy.random.default_rng(seed)``; weights for paired statistics
    (every model or reader is evaluated on the same resample).
    """
    rng = np.random.default_rng(seed)
    for start in range(0, rounds, chunk):
        r = min(chunk, rounds - start)
        draws = rng.integers(0, num, size=(r, num))
        yield np.bincount(
            (draws + np.arange(r)[:, None] * num).ravel(),
            minlength=r * num).reshape(r, num).astype(np.float64)


def bootstrap_distribution(
        statistic: Callable[[np.ndarray], Mapping[Hashable, np.ndarray]],
        num_units: Optional[int],
        rounds: int,
        seed: int = 0,
        chunk: int = 500,
        units: Optional[np.ndarray] = None
) -> 'OrderedDict[Hashable, np.ndarray]':
    """Every statistic of ``statistic`` over ``rounds`` paired resamples.

    Args:
        statistic (Callable): Weights ``(r, N)`` to a mapping of statistic
            name to values ``(r, ...)`` (several statistics at once).
        num_units (int, optional): The units drawn (lesions). None with
            ``units``: ``units.max() + 1``.
        rounds (int): Resamples.
        seed (int): Seed of the one generator. Defaults to 0.
        chunk (int): Resamples evaluated at once. Defaults to 500.
        units (np.ndarray, optional): The unit index of every row ``(N, )``
            (e.g. the lesion of each image); then ``statistic`` gets row
            weights (each row weighted by its unit's multiplicity). Default:
            the rows are the units.

    Returns:
        OrderedDict: Statistic name to ``(rounds, ...)`` values, in the
        callable's key order.
    """
    if units is not None:
        units = np.asarray(units, dtype=np.int64)
        if units.ndim != 1 or not len(units) or units.min() < 0:
            raise ValueError('units must be a non-empty 1-D array of '
                             f'non-negative unit indices, got {units!r}')
        if num_units is None:
            num_units = int(units.max()) + 1
        elif units.max() >= num_units:
            raise ValueError(f'units index {int(units.max())} but '
                             f'num_units={num_units}')
    if num_units is None or (rounds > 0 and num_units < 1):
        raise ValueError(f'num_units={num_units!r} must be >= 1')
    collected = OrderedDict()
    for mult in bootstrap_multiplicities(num_units, rounds, seed, chunk):
        weights = mult if units is None else mult[:, units]
        for key, values in statistic(weights).items():
            collected.setdefault(key, []).append(values)
    return OrderedDict(
        (key, np.concatenate(parts)) for key, parts in collected.items())


def percentile_interval(values: np.ndarray,
                        ci_level: float = 0.95) -> Tuple[float, float]:
    """Percentile interval of bootstrap values, NaN rounds left out."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not len(values):
        return float('nan'), float('nan')
    alpha = (1 - ci_level) / 2 * 100
    lo, hi = np.percentile(values, [alpha, 100 - alpha])
    return float(lo), float(hi)


def bootstrap_intervals(
        distribution: Mapping[Hashable, np.ndarray],
        ci_level: float = 0.95
) -> 'OrderedDict[Hashable, Tuple[float, float]]':
    """:func:`percentile_interval` of every ``(rounds, )`` distribution of
    :func:`bootstrap_distribution`, in its order."""
    return OrderedDict((key, percentile_interval(values, ci_level))
                       for key, values in distribution.items())


def resampled_mean(values: np.ndarray,
                   defined: Optional[np.ndarray] = None,
                   missing: str = 'skip') -> np.ndarray:
    """Mean over classes of each resample (a macro mean).

    Args:
        values (np.ndarray): ``(r, C)`` per-class values, NaN where a class
            is undefined in a resample.
        defined (np.ndarray, optional): Bool ``(C, )``: the classes averaged
            (e.g. those defined on the full sample). Default: all.
        missing (str): A class undefined in a resample: ``'skip'`` leaves it
            out of that resample's mean (NaN only when no class is
            defined; ``LesionMetric``, subgroups); ``'nan'`` makes the
            resample's mean NaN, so the interval leaves the resample out
            (``compare_models``).

    Returns:
        np.ndarray: ``(r, )``.
    """
    if missing not in MISSING_CLASS:
        raise ValueError(f'missing={missing!r} must be one of '
                         f'{MISSING_CLASS}')
    values = np.asarray(values)
    if missing == 'skip':
        return nanmean_or_nan(
            values if defined is None else values[:, defined], axis=1)
    if defined is None:
        defined = np.ones(values.shape[1], bool)
    if not np.any(defined):
        return np.full(len(values), np.nan)
    return values[:, defined].mean(1)

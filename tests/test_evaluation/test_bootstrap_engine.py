# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The one bootstrap engine against a hand-written resampling loop on the
same random stream (exact equality: the statistics are integer counts and
one division each, so both ways round identically)."""
import numpy as np
import pytest

from ecdl_mm.evaluation.functional import (bootstrap_distribution,
                                           bootstrap_intervals,
                                           percentile_interval, resampled_mean)


def hand_draws(num, rounds, seed, chunk):
    """The engine's documented stream: one default_rng(seed), ``chunk``
    resamples at a time, each chunk ``rng.integers(0, num, (r, num))``."""
    rng = np.random.default_rng(seed)
    for start in range(0, rounds, chunk):
        r = min(chunk, rounds - start)
        yield from rng.integers(0, num, size=(r, num))


def hand_interval(values, ci_level):
    values = [v for v in values if not np.isnan(v)]
    alpha = (1 - ci_level) / 2 * 100
    return tuple(np.percentile(values, [alpha, 100 - alpha]))


# 11 lesions (odd, so a chunk's draws do not fill whole 64-bit words):
# whether each was called right, and its class (class 2 has one lesion, so
# many resamples miss it)
RIGHT = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1], dtype=np.float64)
CLS = np.array([0, 1, 0, 1, 0, 1, 0, 0, 1, 2, 1])


def test_engine_equals_a_hand_written_loop():
    rounds, seed, chunk = 37, 5, 10

    def statistic(w):
        per_class = np.stack([(w * RIGHT * (CLS == k)).sum(1) /
                              (w * (CLS == k)).sum(1) for k in range(3)],
                             axis=1)
        return dict(
            accuracy=(w * RIGHT).sum(1) / w.sum(1),
            per_class=per_class,
            macro_skip=resampled_mean(per_class, missing='skip'),
            macro_nan=resampled_mean(per_class, missing='nan'))

    with np.errstate(invalid='ignore'):
        dist = bootstrap_distribution(statistic, len(RIGHT), rounds, seed,
                                      chunk)
    assert list(dist) == ['accuracy', 'per_class', 'macro_skip', 'macro_nan']
    assert dist['per_class'].shape == (rounds, 3)

    acc, per_class, skip, nan = [], [], [], []
    for draw in hand_draws(len(RIGHT), rounds, seed, chunk):
        right, cls = RIGHT[draw], CLS[draw]
        acc.append(right.sum() / len(draw))
        rates = [
            right[cls == k].sum() / (cls == k).sum() if
            (cls == k).any() else np.nan for k in range(3)
        ]
        per_class.append(rates)
        defined = [r for r in rates if not np.isnan(r)]
        skip.append(sum(defined) / len(defined))
        nan.append(sum(rates) / 3)  # NaN when a class was not drawn
    assert dist['accuracy'].tolist() == acc
    np.testing.assert_array_equal(dist['per_class'], np.array(per_class))
    assert dist['macro_skip'].tolist() == skip
    np.testing.assert_array_equal(dist['macro_nan'], np.array(nan))
    # the small class is missing from some resamples: the two rules differ
    missed = np.isnan(np.array(per_class)[:, 2])
    assert 0 < missed.sum() < rounds
    assert not np.isnan(dist['macro_skip']).any()

    intervals = bootstrap_intervals(dist_1d(dist), 0.9)
    assert intervals['accuracy'] == hand_interval(acc, 0.9)
    assert intervals['macro_skip'] == hand_interval(skip, 0.9)
    # NaN resamples are left out of the interval
    assert intervals['macro_nan'] == hand_interval(nan, 0.9)
    assert intervals['macro_nan'] != hand_interval(skip, 0.9)


def dist_1d(dist):
    return {k: v for k, v in dist.items() if v.ndim == 1}


def test_units_resample_clusters_with_all_their_rows():
    """A unit (lesion) is drawn with all its rows (images)."""
    unit_of_row = np.array([0, 0, 1, 2, 2, 2, 3, 4, 4, 5, 6, 6, 6, 6, 3])
    right = np.array([1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1], float)
    rows_of = [np.flatnonzero(unit_of_row == u) for u in range(7)]
    rounds, seed = 23, 9

    dist = bootstrap_distribution(
        lambda w: dict(acc=(w * right).sum(1) / w.sum(1)),
        None,
        rounds,
        seed,
        chunk=4,
        units=unit_of_row)
    ref = []
    for draw in hand_draws(7, rounds, seed, 4):
        rows = np.concatenate([rows_of[u] for u in draw])
        ref.append(right[rows].sum() / len(rows))
    assert dist['acc'].tolist() == ref


def test_the_stream_depends_on_seed_and_chunk():

    def stat(w):
        return dict(first=w[:, 0])

    a = bootstrap_distribution(stat, 5, 12, seed=1, chunk=12)['first']
    assert (a == bootstrap_distribution(stat, 5, 12, 1, 12)['first']).all()
    assert not (a == bootstrap_distribution(stat, 5, 12, 2, 12)['first']).all()
    # every resample draws num_units units
    full = bootstrap_distribution(lambda w: dict(n=w.sum(1)), 5, 12, 1)['n']
    assert full.tolist() == [5.0] * 12


def test_resampled_mean_rules():
    values = np.array([[0.5, np.nan, 1.0], [0.25, 0.75, np.nan],
                       [np.nan, np.nan, np.nan]])
    skip = resampled_mean(values)
    assert skip[:2].tolist() == [0.75, 0.5] and np.isnan(skip[2])
    nan = resampled_mean(values, missing='nan')
    assert np.isnan(nan).all()
    only = np.array([True, False, True])
    assert resampled_mean(values, only, 'skip')[:2].tolist() == [0.75, 0.25]
    assert resampled_mean(values, only, 'nan')[0] == 0.75
    assert np.isnan(resampled_mean(values, np.zeros(3, bool), 'nan')).all()
    assert np.isnan(resampled_mean(values, np.zeros(3, bool), 'skip')).all()


def test_percentile_interval_leaves_nan_rounds_out():
    vals = np.array([np.nan, 0.0, 1.0, 2.0, 3.0, 4.0, np.nan])
    assert percentile_interval(vals, 0.5) == (1.0, 3.0)
    assert np.isnan(percentile_interval([np.nan, np.nan])).all()


def test_bad_arguments_are_one_clear_error():
    with pytest.raises(ValueError, match="missing='drop'"):
        resampled_mean(np.ones((2, 2)), missing='drop')
    with pytest.raises(ValueError, match='units index 3 but num_units=3'):
        bootstrap_distribution(lambda w: {}, 3, 2, units=np.array([0, 1, 3]))
    with pytest.raises(ValueError, match='num_units=0'):
        bootstrap_distribution(lambda w: {}, 0, 2)


def test_no_library_module_runs_its_own_resampling_loop():
    """Every lesion bootstrap goes through the engine: only
    functional/bootstrap.py draws multiplicities."""
    import pathlib

    import ecdl_mm
    root = pathlib.Path(ecdl_mm.__file__).parent
    callers = sorted(
        str(p.relative_to(root)) for p in root.rglob('*.py')
        if 'bootstrap_multiplicities(' in p.read_text(encoding='utf-8'))
    assert callers == ['evaluation/functional/bootstrap.py']

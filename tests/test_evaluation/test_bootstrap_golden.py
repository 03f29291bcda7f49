# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The lesion bootstrap of every caller gives the same bytes as before the
one engine (``ecdl_mm.evaluation.functional.bootstrap``) replaced their own
loops.

``tests/data/bootstrap_golden.json`` was recorded with the callers' own
loops (commit "bootstrap golden values recorded before the engine", the
parent of the engine commit) by ``python
tests/test_evaluation/test_bootstrap_golden.py --record``: every interval
each caller returns, as ``repr`` of the float (exact), and the SHA-256 of the
raw bytes of every resampled distribution. Equality is exact (``==`` on
those strings), never approximate. Do not re-record to make this test pass:
a difference means the engine changed a caller's numbers.

The inputs are made from integers and divisions only (no ``exp``/``log``,
whose last bit may differ between CPUs), with ties in the scores and a small
class (3 of 15 lesions) so that many resamples miss it: the degenerate
rounds each caller handles in its own way.
"""
import hashlib
import json
import os.path as osp
import sys

import numpy as np

from ecdl_mm.evaluation import LesionMetric
from ecdl_mm.evaluation.clinical import LesionPredictions, compare_models
from ecdl_mm.evaluation.clinical.model_comparison import bootstrap_metrics
from ecdl_mm.evaluation.clinical.reader_study import (ReaderReads,
                                                      bootstrap_study,
                                                      run_reader_study)
from ecdl_mm.evaluation.clinical.reader_study.bootstrap import _make_study
from ecdl_mm.evaluation.clinical.subgroups import macro_auc

GOLDEN = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'data',
    'bootstrap_golden.json')
CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')
# 15 lesions: 7 / 5 / 3 of the three classes
TARGET = np.array([0, 1, 0, 2, 1, 0, 0, 1, 2, 0, 1, 0, 2, 1, 0])
ROUNDS = 120


def _scores(target, strength, seed):
    """Probabilities from integers (exact divisions), with ties."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(1, 12, size=(len(target), 3)).astype(np.float64)
    raw[np.arange(len(target)), target] += strength
    return raw / raw.sum(1, keepdims=True)


def _model(strength, seed, name):
    scores = _scores(TARGET, strength, seed)
    return LesionPredictions(f'{name}.csv',
                             [f'L{i:02d}' for i in range(len(TARGET))],
                             CLASSES, TARGET.copy(), scores, scores.argmax(1))


def _reads(model):
    """Two readers per group in two sessions; integer diagnoses."""
    rng = np.random.default_rng(5)
    num_s, num_r, num_l = 2, 4, len(TARGET)
    diag = np.empty((num_s, num_r, num_l), np.int64)
    for s in range(num_s):
        for r in range(num_r):
            wrong = rng.integers(0, 10, num_l) < (4 - r // 2 - 2 * s)
            diag[s, r] = np.where(wrong, (TARGET + 1 + (r % 2)) % 3, TARGET)
    conf = rng.integers(1, 6, (num_s, num_r, num_l)).astype(np.float64)
    readers = ['E1', 'E2', 'N1', 'N2']
    return ReaderReads(
        'readers.csv', CLASSES, list(model.lesion_ids), readers,
        dict(E1='expert', E2='expert', N1='novice', N2='novice'),
        ['unassisted', 'assisted'], diag, conf)


def _results(single_class=False):
    """LesionMetric results: 1-3 images of each of the 15 lesions."""
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 4, len(TARGET))
    inverse = np.repeat(np.arange(len(TARGET)), sizes)
    labels = TARGET[inverse]
    scores = _scores(labels, 6, 4)
    if single_class:  # everything called the first class
        scores = np.tile([0.5, 0.25, 0.25], (len(labels), 1))
    return [
        dict(
            score=s,
            gt_label=int(y),
            lesion_id=f'L{k:02d}',
            patient_id=None,
            img_path=f'L{k:02d}/img{i}.jpg')
        for i, (s, y, k) in enumerate(zip(scores, labels, inverse))
    ]


def _f(x):
    return repr(float(x))


def _digest(arrays):
    """SHA-256 of the bytes of ``{key: array}`` in key order."""
    h = hashlib.sha256()
    for key in arrays:
        a = np.ascontiguousarray(arrays[key], dtype=np.float64)
        h.update(repr(key).encode() + b'\0' + a.tobytes())
    return h.hexdigest()


def _intervals(rows, fields):
    """``{row id: [repr(ci_lower), repr(ci_upper)]}`` of a list of rows."""
    out = {}
    for r in rows:
        if 'ci_lower' in r:
            key = '|'.join(str(r[f]) for f in fields if f in r)
            out[key] = [_f(r['ci_lower']), _f(r['ci_upper'])]
    return out


def collect():
    """Every interval and distribution of the four callers."""
    out = {}
    # LesionMetric: AUC, F1 and macro intervals (and their notes), a
    # normal predictor and a single-class one
    for tag, single in (('lesion_metric', False), ('lesion_metric_single',
                                                   True)):
        metric = LesionMetric(bootstrap_rounds=ROUNDS, seed=7, classes=CLASSES)
        m = metric.compute_metrics(_results(single))
        out[tag] = dict(
            intervals={
                k: _f(v)
                for k, v in m.items() if k.endswith(('_ci_lower', '_ci_upper'))
            },
            notes=[[k, v]
                   for k, v in metric.extras.get('interval_notes', {}).items()
                   ])
    # compare_models: three models, paired
    preds = [_model(6, 1, 'A'), _model(3, 2, 'B'), _model(1, 3, 'C')]
    boots = bootstrap_metrics(preds, ROUNDS, 11)
    res = compare_models(preds, ['A', 'B', 'C'], ROUNDS, seed=11)
    out['compare_models'] = dict(
        distributions=[_digest(b) for b in boots],
        model_metrics=_intervals(res['model_metrics'], ('model', 'metric')),
        comparisons=_intervals(res['comparisons'],
                               ('model_a', 'model_b', 'metric')))
    # reader study
    model = preds[1]
    reads = _reads(model)
    st = _make_study(model, reads, 0.95, 25)
    boot_model, boot_reader = bootstrap_study(st, ROUNDS, 13)
    res = run_reader_study(model, reads, bootstrap_rounds=ROUNDS, seed=13)
    fields = ('group', 'session', 'reader', 'versus', 'name', 'metric',
              'comparison', 'fom')
    out['reader_study'] = dict(
        model_distribution=_digest(boot_model),
        reader_distributions={
            f'{s}|{j}': _digest(d)
            for (s, j), d in boot_reader.items()
        },
        **{
            table: _intervals(res[table], fields)
            for table in ('model', 'reader_metrics', 'group_metrics',
                          'model_vs_readers', 'session_comparison')
        })
    # subgroup macro AUC (all three classes; two when one is left out)
    sub = {}
    subsets = dict(all=np.ones(len(TARGET), bool), no_class_2=TARGET != 2)
    for name, keep in subsets.items():
        a = macro_auc(preds[2].scores[keep], TARGET[keep], 3, 150, 17)
        sub[name] = [_f(a['value']), _f(a['ci_lower']), _f(a['ci_upper'])]
    out['subgroup_macro_auc'] = sub
    return out


def test_every_caller_gives_the_recorded_bytes():
    with open(GOLDEN) as f:
        golden = json.load(f)
    now = collect()
    assert sorted(now) == sorted(golden)
    for caller in golden:
        assert now[caller] == golden[caller], caller


if __name__ == '__main__' and sys.argv[1:] == ['--record']:
    with open(GOLDEN, 'w') as f:
        json.dump(collect(), f, indent=1, sort_keys=True)
        f.write('\n')

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""FewShotECNBIDataset / sample_k_shot: k lesions per class, whole lesions,
patient-aware, seeded, refusing k larger than a class."""
import os
import os.path as osp
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ecdl_mm.datasets import FewShotECNBIDataset, sample_k_shot

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')
# (class index, lesion, patient, images): 6 / 5 / 4 lesions; patients P1 and
# P2 have lesions in two classes, the others one lesion each.
COHORT = [(0, 'a1', 'P1', 3), (0, 'a2', 'P2', 1), (0, 'a3', 'P3', 2),
          (0, 'a4', 'P4', 1), (0, 'a5', 'P5', 2), (0, 'a6', 'P6', 1),
          (1, 'c1', 'P1', 2), (1, 'c2', 'P7', 1), (1, 'c3', 'P8', 3),
          (1, 'c4', 'P9', 1), (1, 'c5', 'P10', 1), (2, 'n1', 'P2', 1),
          (2, 'n2', 'P11', 2), (2, 'n3', 'P12', 1), (2, 'n4', 'P13', 2)]


@pytest.fixture(scope='module')
def cohort(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('new_centre'))
    rng = np.random.default_rng(0)
    for cls, lesion, _, n in COHORT:
        d = osp.join(root, CLASSES[cls], lesion, 'Images')
        os.makedirs(d)
        for j in range(n):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3),
                                         dtype=np.uint8)).save(
                                             osp.join(d, f'{j}.png'))
    pd.DataFrame(
        [(c, CLASSES[c], lesion, p) for c, lesion, p, _ in COHORT],
        columns=['class_index', 'class_english', 'lesion_index',
                 'patient_id']).to_csv(
                     osp.join(root, 'cohort.csv'), index=False)
    return root


def build(root, **kwargs):
    return FewShotECNBIDataset(
        data_root=root, ann_file='cohort.csv', cohort='new', **kwargs)


def lesions_of(ds):
    return Counter(ds.get_data_info(i)['lesion_id'] for i in range(len(ds)))


@pytest.mark.parametrize('shots', [1, 2, 4])
def test_k_lesions_per_class_whole_and_patient_disjoint(cohort, shots):
    images = {f'new/{lesion}': n for _, lesion, _, n in COHORT}
    patient = {f'new/{lesion}': p for _, lesion, p, _ in COHORT}
    label = {f'new/{lesion}': c for c, lesion, _, _ in COHORT}
    for seed in range(5):
        sup = lesions_of(build(cohort, shots=shots, seed=seed))
        qry = lesions_of(build(cohort, shots=shots, seed=seed, subset='query'))
        # exactly k lesions of each class
        assert Counter(label[x] for x in sup) == {0: shots, 1: shots, 2: shots}
        # every lesion with all its images, in one subset only
        for got in (sup, qry):
            assert all(n == images[x] for x, n in got.items())
        assert not set(sup) & set(qry)
        # no support patient in the query set; every other lesion is there
        seen = {patient[x] for x in sup}
        assert not seen & {patient[x] for x in qry}
        assert set(qry) == {
            x
            for x in images if x not in sup and patient[x] not in seen
        }


def test_reproducible_per_seed_and_order_free(cohort):
    a = lesions_of(build(cohort, shots=2, seed=3))
    b = lesions_of(build(cohort, shots=2, seed=3))
    assert a == b
    draws = {
        tuple(sorted(lesions_of(build(cohort, shots=2, seed=s))))
        for s in range(6)
    }
    assert len(draws) > 1  # the seed matters
    lesions = {lesion: (c, p) for c, lesion, p, _ in COHORT}
    shuffled = dict(reversed(list(lesions.items())))
    assert sample_k_shot(lesions, 2, 7) == sample_k_shot(shuffled, 2, 7)


def test_every_lesion_can_be_drawn(cohort):
    # a uniform draw: over many seeds every lesion of the class turns up
    lesions = {lesion: (c, p) for c, lesion, p, _ in COHORT}
    hits = defaultdict(int)
    for seed in range(200):
        for x in sample_k_shot(lesions, 1, seed)[0]:
            hits[x] += 1
    assert set(hits) == set(lesions)
    # 1 of 4 non-neoplastic lesions per draw: each ~50 of 200
    assert all(30 < hits[x] < 75 for x in ('n1', 'n2', 'n3', 'n4'))


def test_refuses_more_shots_than_a_class_has(cohort):
    build(cohort, shots=4)  # the smallest class has 4
    with pytest.raises(ValueError, match='non-neoplastic'):
        build(cohort, shots=5)
    with pytest.raises(ValueError, match='positive integer'):
        build(cohort, shots=0)
    with pytest.raises(ValueError, match='subset'):
        build(cohort, shots=1, subset='train')
    # a class with no lesion at all is refused too
    with pytest.raises(ValueError, match='class 2'):
        sample_k_shot({'a': (0, None), 'b': (1, None)}, 1, 0, num_classes=3)

# Copyright (c) ecdl_mm contributors. All rights reserved.
import os
import os.path as osp

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ecdl_mm.datasets import ECNBIDataset, check_split_leakage, lesion_splits


@pytest.fixture
def cohort(tmp_path):
    """30 lesions of 12 patients; patient p0..p11, 2-3 lesions each."""
    root = str(tmp_path / 'c')
    rows = []
    classes = ('adenomas', 'invasive_cancer', 'non-neoplastic')
    for i in range(30):
        patient = i % 12
        cls = patient % 3
        d = osp.join(root, classes[cls], str(100 + i), 'Images')
        os.makedirs(d)
        Image.new('RGB', (8, 8)).save(osp.join(d, 'a.png'))
        rows.append([cls, classes[cls], 100 + i, f'p{patient}'])
    pd.DataFrame(
        rows,
        columns=['class_index', 'class_english', 'lesion_index',
                 'patient_id']).to_csv(
                     osp.join(root, 'lesions.csv'), index=False)
    return root


def test_ratio_split_grouped_by_patient(cohort, tmp_path):
    df = lesion_splits.collect_lesions(cohort, 'lesions.csv')
    splits = lesion_splits.ratio_split(df, (0.5, 0.25, 0.25), seed=3)
    assert list(splits) == ['train', 'val', 'test']
    check_split_leakage(splits)  # no lesion or patient in two splits
    assert sum(len(s) for s in splits.values()) == 30
    for part in splits.values():
        # stratified: every class in every split
        assert set(part['class_index']) == {0, 1, 2}
    again = lesion_splits.ratio_split(df, (0.5, 0.25, 0.25), seed=3)
    assert all(splits[k].equals(again[k]) for k in splits)  # fixed seed
    other = lesion_splits.ratio_split(df, (0.5, 0.25, 0.25), seed=4)
    assert not all(splits[k].equals(other[k]) for k in splits)

    out = str(tmp_path / 's.xlsx')
    lesion_splits.write_splits(splits, out)
    # the written sheets load, with the leakage check, as datasets
    ds = ECNBIDataset(
        cohort, out, sheet_name='train', disjoint_with=['val', 'test'])
    assert len(ds) == len(splits['train'])
    assert ds.get_data_info(0)['patient_id'].startswith('p')
    with pytest.raises(ValueError, match='must be >= 0 and sum to 1'):
        lesion_splits.ratio_split(df, (0.5, 0.5, 0.5), seed=0)


def test_kfold_split_without_patients(cohort, tmp_path):
    df = lesion_splits.collect_lesions(cohort)  # folders only: no patient ids
    assert df['patient_id'].isna().all() and len(df) == 30
    splits = lesion_splits.fold_split(df, 3, seed=0)
    vals = [set(splits[f'fold{i}_val']['lesion_index']) for i in range(3)]
    assert set.union(*vals) == set(df['lesion_index'])
    assert sum(len(v) for v in vals) == 30  # each lesion validated once
    for i in range(3):
        check_split_leakage({
            'train': splits[f'fold{i}_train'],
            'val': splits[f'fold{i}_val']
        })
        counts = np.bincount(
            splits[f'fold{i}_val']['class_index'], minlength=3)
        assert counts.min() >= 3  # 10 per class -> 3 or 4 per fold
    out = str(tmp_path / 'folds')
    lesion_splits.write_splits(splits, out)
    table = pd.read_csv(osp.join(out, 'fold0_val.csv'))
    assert list(
        table.columns) == ['class_index', 'class_english', 'lesion_index']
    with pytest.raises(ValueError, match='--folds 1 must be at least 2'):
        lesion_splits.fold_split(df, 1, seed=0)


def test_cli(run_script, cohort, tmp_path):
    out = str(tmp_path / 'cli.xlsx')
    proc = run_script([
        'tools/dataset_converters/make_splits.py', cohort, '--out', out,
        '--lesions', 'lesions.csv', '--ratios', '0.6', '0.2', '0.2'
    ])
    assert 'wrote' in proc.stdout
    assert pd.ExcelFile(out).sheet_names == ['train', 'val', 'test']

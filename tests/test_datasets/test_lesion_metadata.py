# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Lesion metadata from split sheets: checked with one-line errors, carried
from the sheet through ECNBIDataset and LesionMetric into
lesion_predictions.csv, stratified / grouped by make_splits, and the
SYNTHETIC demo sheet."""
import os.path as osp

import numpy as np
import pandas as pd
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from ecdl_mm.datasets import ECNBIDataset, check_split_leakage, lesion_splits
from ecdl_mm.datasets.lesion_metadata import parse_morphology
from ecdl_mm.datasets.split_sheet import DataError, load_split_sheet
from ecdl_mm.datasets.synthetic_metadata import write_demo_metadata

HEADER = ['class_index', 'class_english', 'lesion_index', 'patient_id']


def sheet(tmp_path, rows, extra, name='s'):
    """A workbook with one sheet ``name``: HEADER + ``extra`` columns."""
    path = str(tmp_path / 'm.xlsx')
    pd.DataFrame(
        rows, columns=HEADER + extra).to_excel(
            path, sheet_name=name, index=False)
    return path


def test_values_are_normalised_and_rectosigmoid_derived(tmp_path):
    path = sheet(tmp_path, [
        [0, 'adenomas', 1, 'P1', 'A', '4', 'Sigmoid colon', 'iia+iic', 'x'],
        [2, 'non-neoplastic', 2, 'P1', 'A', '12.5', 'cecum', '0-Isp', ''],
        [0, 'adenomas', 3, '', '', '', '', '', 'y'],
    ], ['centre', 'size_mm', 'location', 'morphology', 'scope'])
    df = load_split_sheet(path, 's', extra_columns=['scope'])
    assert list(df.columns) == HEADER + [
        'row', 'centre', 'size_mm', 'location', 'rectosigmoid', 'morphology',
        'scope'
    ]
    assert df['size_mm'].tolist() == [4.0, 12.5, None]
    assert df['location'].tolist() == ['sigmoid', 'caecum', None]
    assert df['rectosigmoid'].tolist() == [True, False, None]
    assert df['morphology'].tolist() == ['0-IIa+IIc', '0-Isp', None]
    assert df['scope'].tolist() == ['x', None, 'y']
    for text, want in (('0-Ip', '0-Ip'), ('0-IIc + IIa', '0-IIc+IIa'),
                       ('0-is+IIc', '0-Is+IIc'), ('III', '0-III')):
        assert parse_morphology(text) == want


@pytest.mark.parametrize('col,value,cell,expected', [
    ('size_mm', 'five', 'F3', "'five' is not a size in mm"),
    ('size_mm', '-2', 'F3', "'-2' is not a size in mm"),
    ('location', 'stomach', 'G3', "'stomach' is not a location (one of "
     'caecum, ascending, transverse, descending, sigmoid, rectum)'),
    ('morphology', '0-IV', 'H3', "'0-IV' is not a Paris class"),
    ('morphology', '0-IIa+IIa', 'H3', "'0-IIa+IIa' is not a Paris class"),
])
def test_bad_cells_end_with_one_line_naming_sheet_row_cell(
        tmp_path, col, value, cell, expected):
    good = ['A', '3', 'rectum', '0-Is']
    bad = list(good)
    bad[['centre', 'size_mm', 'location', 'morphology'].index(col)] = value
    path = sheet(
        tmp_path,
        [[0, 'adenomas', 1, 'P1'] + good, [0, 'adenomas', 2, 'P2'] + bad],
        ['centre', 'size_mm', 'location', 'morphology'])
    with pytest.raises(DataError) as err:
        load_split_sheet(path, 's')
    msg = str(err.value)
    assert '\n' not in msg
    assert msg.startswith(f"{path} [sheet 's'] row 3, cell {cell} ({col}): ")
    assert expected in msg


def test_patient_in_two_centres_and_extra_column_errors(tmp_path):
    path = sheet(tmp_path,
                 [[0, 'adenomas', 1, 'P1', 'A'], [0, 'adenomas', 2, 'P2', 'B'],
                  [0, 'adenomas', 3, 'P1', 'B']], ['centre'])
    with pytest.raises(DataError) as err:
        load_split_sheet(path, 's')
    assert str(err.value) == (
        f"{path} [sheet 's'] row 4, cell E4 (centre): patient 'P1' is in "
        "centre 'B' here but in centre 'A' in row 2 (cell E2); a patient "
        'belongs to one centre')
    with pytest.raises(DataError, match=r"lacks the extra column 'scope'"):
        load_split_sheet(path, 's', extra_columns=['scope'])
    for name in ('size_mm', 'confidence', 'prob_x'):
        with pytest.raises(DataError, match=f"'{name}' is a column ecdl_mm"):
            load_split_sheet(path, 's', extra_columns=[name])
    # the dataset ends with the same line
    with pytest.raises(DataError, match=r'row 4, cell E4 \(centre\)'):
        ECNBIDataset(str(tmp_path), path, sheet_name='s')


def test_sheet_without_metadata_is_read_as_before(demo_root):
    df = load_split_sheet(
        osp.join(demo_root, 'dataset_divide.xlsx'), 'demo_test')
    assert list(df.columns) == HEADER[:3] + ['patient_id', 'row']
    pack = dict(type='PackInputs', meta_keys=('img_path', 'lesion_id'))
    ds = ECNBIDataset(
        demo_root,
        'dataset_divide.xlsx',
        sheet_name='demo_test',
        pipeline=[pack],
        check_images=False)
    assert 'lesion_meta' not in ds.get_data_info(0)
    assert ds.pipeline.transforms[0].meta_keys == ('img_path', 'lesion_id')


@pytest.fixture(scope='module')
def synthetic(demo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('meta')
    return write_demo_metadata(
        osp.join(demo_root, 'dataset_divide.xlsx'), str(out), seed=0)


def test_synthetic_demo_sheet(synthetic, demo_root, tmp_path):
    assert osp.basename(synthetic['path']) == \
        'dataset_divide_SYNTHETIC_metadata.xlsx'
    sheets = pd.read_excel(synthetic['path'], sheet_name=None)
    assert list(sheets) == ['demo_train', 'demo_test', 'about']
    assert 'SYNTHETIC' in sheets['about']['note'][0]
    demo = pd.read_excel(
        osp.join(demo_root, 'dataset_divide.xlsx'), sheet_name=None)
    for name in ('demo_train', 'demo_test'):
        got = sheets[name]
        # the demo's rows, unchanged, with the synthetic columns added
        pd.testing.assert_frame_equal(got[list(demo[name].columns)],
                                      demo[name])
        assert (got['metadata_source'] == 'synthetic').all()
        assert got['patient_id'].str.startswith('SYN-P').all()
        assert (got.groupby('patient_id')['centre'].nunique() == 1).all()
        # the loader accepts every value
        load_split_sheet(synthetic['path'], name)
    # splits stay disjoint by patient
    check_split_leakage({
        k: load_split_sheet(synthetic['path'], k)
        for k in ('demo_train', 'demo_test')
    })
    again = write_demo_metadata(
        osp.join(demo_root, 'dataset_divide.xlsx'), str(tmp_path), seed=0)
    for k in ('demo_train', 'demo_test'):
        pd.testing.assert_frame_equal(again['sheets'][k],
                                      synthetic['sheets'][k])
    with pytest.raises(ValueError, match='inside the data folder'):
        write_demo_metadata(
            osp.join(demo_root, 'dataset_divide.xlsx'),
            osp.join(demo_root, 'x'))


def test_metadata_travels_from_sheet_to_lesion_predictions(
        synthetic, demo_root, repo_root, tmp_path):
    """ECNBIDataset (the tiny test config's pipeline, which packs only
    img_path / lesion_id / patient_id) -> a tiny model -> LesionMetric."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(
        osp.join(repo_root, 'tests', 'data', 'tiny_resnet_lesion_demo.py'))
    ds = ECNBIDataset(
        demo_root,
        synthetic['path'],
        sheet_name='demo_test',
        disjoint_with=['demo_train'],
        extra_columns=['metadata_source'],
        pipeline=cfg.test_pipeline)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    evaluator = Evaluator(
        dict(type='LesionMetric', bootstrap_rounds=0, out_dir=str(tmp_path)))
    evaluator.dataset_meta = ds.metainfo
    with torch.no_grad():
        for start in range(0, len(ds), 20):
            batch = default_collate(
                [ds[i] for i in range(start, min(start + 20, len(ds)))])
            evaluator.process(model.test_step(batch), batch)
    evaluator.evaluate(len(ds))
    got = pd.read_csv(
        tmp_path / 'lesion_predictions.csv', dtype={'lesion_id': str})
    want = synthetic['sheets']['demo_test']
    cohort = osp.basename(osp.realpath(demo_root))
    want = want.set_index(cohort + '/' + want['lesion_index'].astype(str))
    assert sorted(got['lesion_id']) == sorted(want.index)
    assert list(got.columns[-6:]) == [
        'centre', 'size_mm', 'location', 'rectosigmoid', 'morphology',
        'metadata_source'
    ]
    want = want.loc[got['lesion_id']]
    for col in ('patient_id', 'centre', 'location', 'morphology',
                'metadata_source'):
        assert got[col].tolist() == want[col].tolist(), col
    np.testing.assert_array_equal(got['size_mm'], want['size_mm'])
    assert got['rectosigmoid'].tolist() == want['location'].isin(
        ['sigmoid', 'rectum']).tolist()


def test_make_splits_stratify_and_group_by(synthetic, demo_root, tmp_path):
    df = lesion_splits.collect_lesions(
        demo_root,
        synthetic['path'],
        'demo_train',
        extra_columns=['metadata_source'])
    assert df['size_mm'].notna().all()
    splits = lesion_splits.ratio_split(
        df, (0.5, 0, 0.5),
        1,
        stratify=['size_mm:<=5,6-9,>=10'],
        group_by='centre')
    centres = [set(s['centre']) for s in splits.values()]
    assert not centres[0] & centres[1]  # whole centres per split
    # lesion by lesion, stratified by class and size bin: each stratum is
    # halved (bins by hand with pandas)
    splits = lesion_splits.ratio_split(
        df, (0.5, 0, 0.5),
        1,
        stratify=['size_mm:<=5,6-9,>=10'],
        group_by='lesion')
    bins = [0, 5, 9, np.inf]
    counts = [
        s.groupby([s['class_index'],
                   pd.cut(s['size_mm'].astype(float), bins)],
                  observed=False).size() for s in splits.values()
    ]
    total = df.groupby(
        [df['class_index'],
         pd.cut(df['size_mm'].astype(float), bins)],
        observed=False).size()
    diff = counts[0].reindex(
        total.index, fill_value=0) - counts[1].reindex(
            total.index, fill_value=0)
    assert (diff.abs() <= 1).all() and total.sum() == len(df)
    folds = lesion_splits.fold_split(
        df, 2, 0, stratify=['location'], group_by='patient')
    for i in range(2):
        check_split_leakage(
            {k: folds[f'fold{i}_{k}']
             for k in ('train', 'val')})
    out = str(tmp_path / 'f.xlsx')
    lesion_splits.write_splits(folds, out)
    back = load_split_sheet(
        out, 'fold0_val', extra_columns=['metadata_source'])
    assert {'centre', 'size_mm', 'location', 'morphology',
            'metadata_source'} <= set(back.columns)
    with pytest.raises(DataError, match="--stratify 'endoscopist'"):
        lesion_splits.ratio_split(df, (0.5, 0, 0.5), 0, ['endoscopist'])
    with pytest.raises(DataError, match='falls in none of the bins'):
        lesion_splits.ratio_split(df, (0.5, 0, 0.5), 0, ['size_mm:<=5'])

# Copyright (c) ecdl_mm contributors. All rights reserved.
import glob
import os
import os.path as osp
import re

import numpy as np
import pandas as pd
import pytest
import torch
from mmengine.dataset import ConcatDataset
from mmpretrain.registry import DATASETS
from PIL import Image

from ecdl_mm.datasets import (ECNBIDataset, check_split_leakage,
                              load_split_sheet)

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')


def write_image(path, size=(40, 32), mode='RGB', fmt=None, seed=0):
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    channels = 3 if mode == 'RGB' else 1
    arr = rng.integers(0, 255, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(arr.squeeze()).convert(mode).save(path, format=fmt)


def make_layout(root, lesions):
    """lesions: list of (class_name, lesion_index, num_images)."""
    for i, (cls, lesion, n) in enumerate(lesions):
        img_dir = osp.join(root, cls, str(lesion), 'Images')
        os.makedirs(img_dir, exist_ok=True)
        for j in range(n):
            ext = ('jpg', 'png', 'bmp')[j % 3]
            write_image(osp.join(img_dir, f'im{j}.{ext}'), seed=10 * i + j)


def sheet(rows, patient=False):
    cols = ['class_index', 'class_english', 'lesion_index']
    if patient:
        cols.append('patient_id')
    return pd.DataFrame(rows, columns=cols)


LESIONS = [('adenomas', 1, 2), ('adenomas', 2, 1), ('invasive_cancer', 3, 3),
           ('non-neoplastic', 4, 1), ('non-neoplastic', 5, 2)]


@pytest.fixture
def root(tmp_path):
    make_layout(str(tmp_path), LESIONS)
    return str(tmp_path)


def write_xlsx(path, sheets):
    with pd.ExcelWriter(path) as writer:
        for name, df in sheets.items():
            df.to_excel(writer, sheet_name=name, index=False)


def test_no_sheet_uses_every_lesion(root):
    ds = ECNBIDataset(data_root=root)
    assert len(ds) == 9
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    index = ['1', '1', '2', '3', '3', '3', '4', '5', '5']
    cohort = osp.basename(root)
    assert ds.cohort == cohort
    assert [i['lesion_index'] for i in infos] == index
    assert [i['lesion_id'] for i in infos] == [f'{cohort}/{x}' for x in index]
    assert [i['gt_label'] for i in infos] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert all(i['patient_id'] is None for i in infos)
    assert infos[0]['img_path'] == osp.join(root, 'adenomas', '1', 'Images',
                                            'im0.jpg')
    assert ds.CLASSES == CLASSES


def test_xlsx_sheet_restricts_and_carries_ids_to_data_samples(root):
    write_xlsx(
        osp.join(root, 'split.xlsx'), {
            'train':
            sheet([[2, 'non-neoplastic', 5, 'p9'], [0, 'adenomas', 1, 'p1']],
                  patient=True),
            'test':
            sheet([[1, 'invasive_cancer', 3, 'p3']], patient=True),
        })
    meta_keys = ('img_path', 'lesion_id', 'patient_id')
    ds = DATASETS.build(
        dict(
            type='ECNBIDataset',
            data_root=root,
            ann_file='split.xlsx',
            sheet_name='train',
            disjoint_with=['test'],
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='PackInputs', meta_keys=meta_keys)
            ]))
    c = osp.basename(root)
    assert ds.get_lesion_ids() == [f'{c}/5', f'{c}/5', f'{c}/1', f'{c}/1']
    out = ds[0]
    sample = out['data_samples']
    assert sample.lesion_id == f'{c}/5' and sample.patient_id == 'p9'
    assert int(sample.gt_label) == 2
    assert tuple(out['inputs'].shape) == (3, 32, 40)


def test_csv_sheet_and_bad_class_agreement(root):
    path = osp.join(root, 'a.csv')
    sheet([[0, 'adenomas', 2]]).to_csv(path, index=False)
    assert len(ECNBIDataset(root, ann_file='a.csv')) == 1

    sheet([[1, 'adenomas', 2]]).to_csv(path, index=False)
    with pytest.raises(
            ValueError,
            match=re.escape(
                "a.csv row 2 (lesion 2): class_english 'adenomas' disagrees "
                "with class_index 1, which is 'invasive_cancer'")):
        ECNBIDataset(root, ann_file='a.csv')

    sheet([[3, 'x', 2]]).to_csv(path, index=False)
    with pytest.raises(ValueError, match='class_index 3 is outside the 3'):
        ECNBIDataset(root, ann_file='a.csv')


def test_disjoint_with_a_sheet_name_on_a_csv_names_disjoint_with(root):
    # issue 28: the demo configs' disjoint_with=['demo_test'] left in place
    # with a user's CSV sheet was blamed on sheet_name
    sheet([[0, 'adenomas', 1]]).to_csv(osp.join(root, 'a.csv'), index=False)
    sheet([[0, 'adenomas', 2]]).to_csv(osp.join(root, 'b.csv'), index=False)
    with pytest.raises(
            ValueError,
            match=re.escape(
                "disjoint_with item 'demo_test' is a sheet name but ann_file "
                f"{osp.join(root, 'a.csv')} is a .csv file (no sheets): name "
                "the other split's file, e.g. disjoint_with=['test.csv'], or "
                'set disjoint_with=[]')):
        ECNBIDataset(root, ann_file='a.csv', disjoint_with=['demo_test'])
    with pytest.raises(
            FileNotFoundError,
            match=re.escape("disjoint_with item 'c.csv': split sheet")):
        ECNBIDataset(root, ann_file='a.csv', disjoint_with=['c.csv'])
    assert len(ECNBIDataset(root, ann_file='a.csv',
                            disjoint_with=['b.csv'])) == 2


def test_custom_class_order_from_metainfo(root):
    classes = ('non-neoplastic', 'adenomas', 'invasive_cancer')
    sheet([[0, 'non-neoplastic', 4], [1, 'adenomas', 2]]).to_csv(
        osp.join(root, 'b.csv'), index=False)
    ds = ECNBIDataset(root, 'b.csv', metainfo=dict(classes=classes))
    assert [ds.get_data_info(i)['gt_label'] for i in range(2)] == [0, 1]
    with pytest.raises(ValueError, match='disagrees with class_index'):
        ECNBIDataset(root, 'b.csv')


def test_missing_folder(root):
    sheet([[0, 'adenomas', 77]]).to_csv(osp.join(root, 's.csv'), index=False)
    with pytest.raises(
            ValueError,
            match=r"s.csv row 2: lesion '77' has no "
            r'folder; expected .*adenomas/77'):
        ECNBIDataset(root, 's.csv')


def test_folder_in_wrong_class(root):
    sheet([[0, 'adenomas', 1], [0, 'adenomas', 4]]).to_csv(
        osp.join(root, 's.csv'), index=False)
    with pytest.raises(
            ValueError,
            match=r"row 3: lesion '4' is labelled "
            r"'adenomas' but its folder is in the wrong class: "
            r'.*non-neoplastic/4'):
        ECNBIDataset(root, 's.csv')


def test_empty_lesion(root):
    os.makedirs(osp.join(root, 'adenomas', '8', 'Images'))
    open(osp.join(root, 'adenomas', '8', 'Images', 'notes.txt'), 'w').close()
    with pytest.raises(ValueError, match=r"empty lesion '8': no image"):
        ECNBIDataset(root)


def test_duplicated_lesion_ids(root):
    sheet([[0, 'adenomas', 1], [0, 'adenomas', 2], [0, 'adenomas', 1]]).to_csv(
        osp.join(root, 's.csv'), index=False)
    with pytest.raises(
            ValueError, match=r"duplicated lesion id '1' in rows "
            r'2 and 4'):
        ECNBIDataset(root, 's.csv')
    # the same lesion index as folders of two classes
    make_layout(root, [('invasive_cancer', 2, 1)])
    with pytest.raises(
            ValueError,
            match=r"duplicated lesion id '2': folders "
            r"in classes \['adenomas', 'invasive_cancer'\]"):
        ECNBIDataset(root)


def test_leakage_between_train_and_test(root):
    write_xlsx(
        osp.join(root, 'split.xlsx'), {
            'train':
            sheet([[0, 'adenomas', 1, 'p1'], [0, 'adenomas', 2, 'p2']],
                  patient=True),
            'test_lesion':
            sheet([[0, 'adenomas', 2, 'p7']], patient=True),
            'test_patient':
            sheet([[1, 'invasive_cancer', 3, 'p1']], patient=True),
            'clean':
            sheet([[2, 'non-neoplastic', 4, 'p4']], patient=True),
        })
    kw = dict(data_root=root, ann_file='split.xlsx', sheet_name='train')
    assert len(ECNBIDataset(disjoint_with=['clean'], **kw)) == 3
    with pytest.raises(
            ValueError,
            match=r"data leakage between splits: "
            r"lesion '2' is in splits .*test_lesion"):
        ECNBIDataset(disjoint_with=['test_lesion'], **kw)
    with pytest.raises(
            ValueError,
            match=r"patient 'p1' is in splits "
            r'.*train.*test_patient'):
        ECNBIDataset(
            disjoint_with=[
                dict(ann_file='split.xlsx', sheet_name='test_patient')
            ],
            **kw)
    # another file given by path
    sheet([[0, 'adenomas', 1]]).to_csv(osp.join(root, 't.csv'), index=False)
    with pytest.raises(ValueError, match=r"lesion '1' is in splits"):
        ECNBIDataset(disjoint_with='t.csv', **kw)


def test_unreadable_and_truncated_images(root):
    good = osp.join(root, 'adenomas', '1', 'Images', 'im0.jpg')
    data = open(good, 'rb').read()
    truncated = osp.join(root, 'adenomas', '1', 'Images', 'zz_trunc.jpg')
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 2])
    garbage = osp.join(root, 'non-neoplastic', '5', 'Images', 'zz_bad.png')
    with open(garbage, 'wb') as f:
        f.write(b'not an image at all')

    with pytest.raises(
            ValueError,
            match=r'unreadable or truncated image '
            rf"{re.escape(truncated)} in lesion '1'"):
        ECNBIDataset(root)
    with pytest.warns(UserWarning) as record:
        ds = ECNBIDataset(root, skip_bad_images=True)
    message = str(record[-1].message)
    assert 'skipped 2 unreadable image(s)' in message
    assert truncated in message and garbage in message
    assert len(ds) == 9
    # the lesion whose only image is broken is an error, not a silent drop
    only = osp.join(root, 'adenomas', '2', 'Images', 'im0.jpg')
    with open(only, 'wb') as f:
        f.write(b'\xff\xd8broken')
    with pytest.raises(ValueError, match=r"empty lesion '2': every image"):
        ECNBIDataset(root, skip_bad_images=True)
    with pytest.raises(ValueError, match='needs check_images=True'):
        ECNBIDataset(root, skip_bad_images=True, check_images=False)


def test_sheet_errors(root):
    with pytest.raises(FileNotFoundError, match='nope.csv does not exist'):
        ECNBIDataset(root, 'nope.csv')
    write_xlsx(
        osp.join(root, 'split.xlsx'), {'a': sheet([[0, 'adenomas', 1]])})
    with pytest.raises(ValueError, match=r"sheet 'b' not found .*\['a'\]"):
        ECNBIDataset(root, 'split.xlsx', sheet_name='b')
    pd.DataFrame({
        'class_index': [0],
        'lesion': [1]
    }).to_csv(
        osp.join(root, 'c.csv'), index=False)
    with pytest.raises(
            ValueError,
            match=r'c.csv lacks the column\(s\) '
            r"\['class_english', 'lesion_index'\]"):
        ECNBIDataset(root, 'c.csv')
    with pytest.raises(FileNotFoundError, match='is not a directory'):
        ECNBIDataset(osp.join(root, 'missing'))


def test_split_helpers():
    a = sheet([[0, 'adenomas', 1, 'p'], [0, 'adenomas', 2, None]],
              patient=True)
    b = sheet([[0, 'adenomas', 3, None]], patient=True)
    check_split_leakage({'a': a, 'b': b})  # None patients never collide
    with pytest.raises(ValueError, match="lesion '1' is in splits"):
        check_split_leakage({'a': a, 'b': a.iloc[:1]})


def test_demo_data(demo_root):
    kw = dict(data_root=demo_root, ann_file='dataset_divide.xlsx')
    train = ECNBIDataset(
        sheet_name='demo_train', disjoint_with=['demo_test'], **kw)
    test = ECNBIDataset(sheet_name='demo_test', **kw)
    ref = pd.read_excel(
        osp.join(demo_root, 'dataset_divide.xlsx'), sheet_name='demo_test')
    assert len(train) == 20 and len(test) == 20
    assert test.get_lesion_ids() == [
        f'ecdl-demo/{x}' for x in ref['lesion_index']
    ]
    assert [test.get_data_info(i)['gt_label']
            for i in range(20)] == list(ref['class_index'])
    assert not set(train.get_lesion_ids()) & set(test.get_lesion_ids())
    sheet_rows = load_split_sheet(
        osp.join(demo_root, 'dataset_divide.xlsx'), 'demo_train', CLASSES)
    assert list(sheet_rows['row'][:2]) == [2, 3]
    # the whole folder without a sheet: all 40 lesions of 3 classes
    full = ECNBIDataset(demo_root, check_images=False)
    assert len(full) == 40 and len(set(full.get_lesion_ids())) == 40


def _patient_warnings(record):
    return [
        str(w.message) for w in record
        if 'patients were NOT checked' in str(w.message)
    ]


def test_missing_patient_ids_warn_that_patients_were_not_checked(root):
    write_xlsx(
        osp.join(root, 'split.xlsx'), {
            'train':
            sheet([[0, 'adenomas', 1], [0, 'adenomas', 2]]),
            'test':
            sheet([[1, 'invasive_cancer', 3]]),
            'train_p':
            sheet([[0, 'adenomas', 1, 'p1'], [0, 'adenomas', 2, 'p2']],
                  patient=True),
            'test_p':
            sheet([[1, 'invasive_cancer', 3, 'p3']], patient=True),
            'test_partial':
            sheet([[1, 'invasive_cancer', 3, 'p3'],
                   [2, 'non-neoplastic', 4, None]],
                  patient=True),
        })
    kw = dict(data_root=root, ann_file='split.xlsx')
    with pytest.warns(UserWarning) as record:
        ECNBIDataset(sheet_name='train', disjoint_with=['test'], **kw)
    [msg] = _patient_warnings(record)
    assert 'split.xlsx[train] (patient_id column empty)' in msg
    assert 'split.xlsx[test] (patient_id column empty)' in msg

    with pytest.warns(UserWarning) as record:
        ECNBIDataset(
            sheet_name='train_p', disjoint_with=['test_partial'], **kw)
    [msg] = _patient_warnings(record)
    assert 'test_partial] (1 of 2 lesions without patient_id)' in msg
    assert 'train_p]' not in msg

    # a sheet without the column at all (csv written without it)
    sheet([[1, 'invasive_cancer', 3]]).to_csv(
        osp.join(root, 't.csv'), index=False)
    with pytest.warns(UserWarning) as record:
        check_split_leakage({
            'a': load_split_sheet(osp.join(root, 't.csv')),
            'b': pd.DataFrame(dict(lesion_index=['9']))
        })
    [msg] = _patient_warnings(record)
    assert 'b (no patient_id column)' in msg and 'a (patient_id' in msg

    # every lesion has a patient: checked, no warning
    import warnings
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        ECNBIDataset(sheet_name='train_p', disjoint_with=['test_p'], **kw)
    assert not _patient_warnings(record)


def _two_cohorts(tmp_path, demo_root, names=('cohort_a', 'cohort_b')):
    """Two cohorts, each with an adenoma lesion numbered 7 (real demo
    images, symlinked)."""
    demo = sorted(
        glob.glob(osp.join(demo_root, 'adenomas', '*', 'Images', '*.jpg')))
    roots = []
    for k, name in enumerate(names):
        root = tmp_path / name
        for j in range(2):
            dst = root / 'adenomas' / '7' / 'Images' / f'im{j}.jpg'
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(demo[2 * k + j], dst)
        roots.append(str(root))
    return roots


def _lesion_metric_over(dataset, scores):
    from mmpretrain.registry import METRICS
    metric = METRICS.build(dict(type='LesionMetric', bootstrap_rounds=0))
    metric.dataset_meta = dict(classes=CLASSES)
    samples = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        samples.append(
            dict(
                pred_score=torch.tensor(scores[i]),
                gt_label=torch.tensor([info['gt_label']]),
                lesion_id=info['lesion_id'],
                img_path=info['img_path']))
    metric.process(None, samples)
    return metric.evaluate(len(samples))


def test_concatenated_cohorts_sharing_a_lesion_index_stay_distinct(
        tmp_path, demo_root):
    root_a, root_b = _two_cohorts(tmp_path, demo_root)
    concat = ConcatDataset([ECNBIDataset(r) for r in (root_a, root_b)])
    ids = [concat.get_data_info(i)['lesion_id'] for i in range(4)]
    assert ids == ['cohort_a/7'] * 2 + ['cohort_b/7'] * 2
    assert [concat.get_data_info(i)['lesion_index']
            for i in range(4)] == ['7'] * 4
    # Lesion a/7 predicted adenoma, lesion b/7 non-neoplastic: two lesions,
    # one right and one wrong (merged they would be one right lesion).
    scores = [[.9, .05, .05], [.7, .1, .2], [.1, .1, .8], [.2, .1, .7]]
    metrics = _lesion_metric_over(concat, scores)
    assert metrics['lesion/num_lesions'] == 2
    assert metrics['lesion/accuracy'] == 0.5
    assert metrics['image/accuracy'] == 0.5


def test_same_folder_name_needs_a_cohort(tmp_path, demo_root):
    roots = _two_cohorts(tmp_path / 'a', demo_root, names=('images', ))
    roots += _two_cohorts(tmp_path / 'b', demo_root, names=('images', ))
    merged = ConcatDataset([ECNBIDataset(r) for r in roots])
    scores = [[.9, .05, .05]] * 4
    # Same folder name: same ids; the metric says lesions were merged.
    with pytest.warns(
            UserWarning,
            match=r"1 lesion id\(s\) gather images "
            r"from more than one folder \('images/7'"):
        metrics = _lesion_metric_over(merged, scores)
    assert metrics['lesion/num_lesions'] == 1
    apart = ConcatDataset([
        ECNBIDataset(r, cohort=name)
        for r, name in zip(roots, ('site1', 'site2'))
    ])
    assert _lesion_metric_over(apart, scores)['lesion/num_lesions'] == 2
    with pytest.raises(ValueError, match="cohort='' must be a non-empty"):
        ECNBIDataset(roots[0], cohort='')

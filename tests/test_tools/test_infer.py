# Copyright (c) ecdl_mm contributors. All rights reserved.
import hashlib
import json
import os
import os.path as osp

import numpy as np
import pandas as pd
import pytest
from helpers import CLASSES
from helpers import TINY_CONFIG as CONFIG
from helpers import save_tiny_checkpoint
from helpers.cli_checks import assert_one_line
from helpers.images import write_image as write


@pytest.fixture(scope='module')
def ckpt(repo_root, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    save_tiny_checkpoint(repo_root, path)
    return path


def _infer(run_script, ckpt, *args, check=True):
    return run_script([
        'tools/infer.py', CONFIG, ckpt, *args, '--device', 'cpu', '--threads',
        '1'
    ],
                      check=check)


def test_infer_tool_on_demo_folders(run_script, ckpt, demo_root, tmp_path):
    out_csv, out_json = str(tmp_path / 'l.csv'), str(tmp_path / 'l.json')
    proc = _infer(run_script, ckpt, osp.join(demo_root, 'invasive_cancer'),
                  osp.join(demo_root, 'adenomas', '2'), '--out-csv', out_csv,
                  '--out-json', out_json, '--batch-size', '4')
    assert '8 lesion(s), aggregation=mean' in proc.stdout
    table = pd.read_csv(out_csv, dtype={'lesion_id': str})
    # LesionMetric's ids, whichever folder is given
    assert list(table['lesion_id']) == [
        f'ecdl-demo/{i}' for i in (14, 17, 18, 736, 740, 746, 750, 2)
    ]
    assert list(table['gt_class']) == ['invasive_cancer'] * 7 + ['adenomas']
    assert list(table['gt_label']) == [1] * 7 + [0]
    probs = table[[c for c in table.columns if c.startswith('prob_')]]
    assert (abs(probs.sum(axis=1) - 1) < 1e-5).all()
    for _, row in table.iterrows():
        assert f'{row["lesion_id"]}  ' in proc.stdout
    results = json.load(open(out_json))
    assert results[0]['images'][0]['img_path'].endswith('.jpg')
    assert results[-1]['path'] == osp.join(demo_root, 'adenomas', '2')
    # not a terminal: no progress bar anywhere, nothing on stderr
    assert proc.stderr == ''
    assert 'task/s' not in proc.stdout
    # provenance beside each file: the checkpoint's hash recomputed here
    digest = hashlib.sha256(open(ckpt, 'rb').read()).hexdigest()
    for out in (out_csv, out_json):
        prov = json.load(open(out + '.provenance.json'))
        assert prov['checkpoint'] == dict(
            path=osp.abspath(ckpt), sha256_prefix=digest[:16])
        assert prov['config']['path'].endswith(CONFIG)
        assert prov['data_root'] == demo_root


def test_infer_csv_feeds_compare_models(run_script, repo_root, ckpt, demo_root,
                                        tmp_path):
    from ecdl_mm.apis import LesionInferencer
    csvs = [str(tmp_path / 'lesions_a.csv'), str(tmp_path / 'lesions_b.csv')]
    _infer(run_script, ckpt, demo_root, '--out-csv', csvs[0])
    # the second model in-process: the same dump_csv as infer.py's
    other = str(tmp_path / 'other.pth')
    save_tiny_checkpoint(repo_root, other, seed=3)
    inferencer = LesionInferencer(
        osp.join(repo_root, CONFIG), other, device='cpu')
    inferencer.dump_csv(inferencer(demo_root), csvs[1])
    table = pd.read_csv(csvs[0], dtype={'lesion_id': str})
    assert len(table) == 40 and table['lesion_id'][0].startswith('ecdl-demo/')
    out = tmp_path / 'cmp'
    run_script([
        'tools/analysis/compare_models.py', *csvs, '--names', 'a', 'b',
        '--out-dir',
        str(out), '--bootstrap-rounds', '50'
    ])
    metrics = pd.read_csv(out / 'model_metrics.csv')
    # compare_models' accuracy of model a equals one computed from the CSV
    acc = float(np.mean(table['pred_class'] == table['gt_class']))
    got = metrics[(metrics['model'] == 'a')
                  & (metrics['metric'] == 'accuracy')]['value']
    assert float(got.iloc[0]) == pytest.approx(acc)


def _truncated_jpeg(demo_root, path):
    src = osp.join(demo_root, 'adenomas', '2', 'Images')
    data = open(osp.join(src, os.listdir(src)[0]), 'rb').read()
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def _video(path):
    import cv2
    os.makedirs(osp.dirname(path), exist_ok=True)
    out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 5, (32, 32))
    for i in range(3):
        out.write(np.full((32, 32, 3), 40 * i, np.uint8))
    out.release()


@pytest.mark.parametrize('case', [
    'empty', 'broken_jpeg', 'video', 'video_folder', 'unreadable', 'not_image'
])
def test_infer_user_mistakes_one_line(case, run_script, ckpt, demo_root,
                                      tmp_path):
    root = str(tmp_path / 'in')
    if case == 'empty':
        os.makedirs(root)
        target, expected = root, 'no image with extension'
    elif case == 'broken_jpeg':
        target = f'{root}/adenomas/9/Images/x.jpg'
        _truncated_jpeg(demo_root, target)
        expected = f'cannot read image {target} (lesion in/9)'
    elif case == 'video':
        target = f'{root}/clip.mp4'
        _video(target)
        expected = f'{target} is a video'
    elif case == 'video_folder':
        _video(f'{root}/clip.mp4')
        target, expected = root, 'clip.mp4 is a video'
    elif case == 'not_image':
        target = f'{root}/notes.txt'
        os.makedirs(root)
        open(target, 'w').write('x')
        expected = f'{target} is not an image'
    else:  # a file no decoder reads
        target = f'{root}/scan.png'
        os.makedirs(root)
        with open(target, 'wb') as f:
            f.write(b'not an image at all')
        expected = f'cannot read image {target}'
    proc = _infer(run_script, ckpt, target, check=False)
    assert_one_line(proc, 'infer.py: error: ', expected)


def test_infer_loose_images_and_lesion_per_folder(run_script, ckpt, tmp_path):
    flat = str(tmp_path / 'flat')
    write(f'{flat}/a.jpg', (40, 40), 'RGB', 0)
    write(f'{flat}/b.jpg', (50, 40), 'RGB', 1)
    csv = str(tmp_path / 'l.csv')
    proc = _infer(run_script, ckpt, flat, '--out-csv', csv)
    assert f'2 images lie directly in {flat}: each is diagnosed as its own ' \
        'lesion' in proc.stdout
    assert proc.stdout.count('LooseImagesWarning') == 1  # warned once
    assert list(pd.read_csv(csv)['lesion_id']) == ['flat/a.jpg', 'flat/b.jpg']
    assert 'gt_label' not in pd.read_csv(csv).columns  # no class in layout
    proc = _infer(run_script, ckpt, flat, '--out-csv', csv,
                  '--lesion-per-folder')
    assert 'LooseImagesWarning' not in proc.stdout
    table = pd.read_csv(csv)
    assert list(table['lesion_id']) == [f'{tmp_path.name}/flat']
    assert list(table['num_images']) == [2]


def test_infer_operating_point(run_script, ckpt, demo_root, tmp_path):
    from ecdl_mm.evaluation.operating_point import OperatingPoint
    op = OperatingPoint(
        classes=list(CLASSES), temperature=0.5, min_confidence=0.6)
    op.save(str(tmp_path / 'op.json'))
    raw, cal = str(tmp_path / 'raw.csv'), str(tmp_path / 'cal.csv')
    lesions = osp.join(demo_root, 'non-neoplastic')
    _infer(run_script, ckpt, lesions, '--out-csv', raw)
    proc = _infer(run_script, ckpt, lesions, '--out-csv', cal,
                  '--operating-point', str(tmp_path / 'op.json'))
    assert 'calibrated' in proc.stdout
    raw, cal = pd.read_csv(raw), pd.read_csv(cal)
    assert 'uncertain' not in raw.columns
    cols = [f'prob_{c}' for c in CLASSES]
    # the stills' schema: raw aggregate in prob_*, calibrated in cal_prob_*
    assert list(cal.columns) == list(raw.columns) + [
        f'cal_prob_{c}' for c in CLASSES
    ] + ['cal_pred_label', 'cal_pred_class', 'confidence', 'uncertain']
    np.testing.assert_allclose(cal[cols], raw[cols], rtol=1e-6)
    # one image per demo lesion: the lesion's calibrated probabilities are
    # softmax(log p / T) of its raw ones, by hand
    z = np.log(raw[cols].to_numpy()) / 0.5
    z = np.exp(z - z.max(1, keepdims=True))
    z /= z.sum(1, keepdims=True)
    np.testing.assert_allclose(
        cal[['cal_' + c for c in cols]].to_numpy(), z, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cal['confidence'], z.max(1), rtol=1e-5)
    assert list(cal['cal_pred_label']) == list(z.argmax(1))
    assert list(cal['uncertain']) == list(z.max(1) < 0.6)
    assert 'uncertain' in proc.stdout or not cal['uncertain'].any()
    # an operating point for other classes: one line, exit 2
    OperatingPoint(classes=['x', 'y', 'z']).save(str(tmp_path / 'bad.json'))
    proc = _infer(
        run_script,
        ckpt,
        lesions,
        '--operating-point',
        str(tmp_path / 'bad.json'),
        check=False)
    assert_one_line(proc, 'was fitted for classes')


def test_progress_goes_to_stderr(repo_root, ckpt, demo_root, capsys):
    from ecdl_mm.apis import LesionInferencer
    inferencer = LesionInferencer(
        osp.join(repo_root, CONFIG), ckpt, device='cpu')
    capsys.readouterr()
    inferencer(osp.join(demo_root, 'invasive_cancer'), show_progress=True)
    out = capsys.readouterr()
    assert '7/7' in out.err and '7/7' not in out.out
    # auto: off when stderr is not a terminal (pytest captures it)
    inferencer(osp.join(demo_root, 'invasive_cancer'))
    out = capsys.readouterr()
    assert out.err == '' and out.out == ''


def test_infer_metadata_sheet(run_script, ckpt, demo_root, tmp_path):
    from ecdl_mm.datasets.synthetic_metadata import write_demo_metadata
    meta = write_demo_metadata(
        osp.join(demo_root, 'dataset_divide.xlsx'), str(tmp_path), seed=1)
    out_csv = str(tmp_path / 'l.csv')
    proc = _infer(run_script, ckpt, osp.join(demo_root, 'invasive_cancer'),
                  '--out-csv', out_csv, '--metadata', meta['path'],
                  '--metadata-sheet', 'demo_test')
    table = pd.read_csv(out_csv, dtype={'lesion_id': str})
    assert list(table.columns[:3]) == ['lesion_id', 'patient_id', 'path']
    assert list(table.columns[-4:]) == [
        'size_mm', 'location', 'rectosigmoid', 'morphology'
    ]
    sheet = meta['sheets']['demo_test'].set_index('lesion_index')
    index = table['lesion_id'].str.split('/').str[-1]
    in_sheet = index.isin(sheet.index)
    # demo_test has 4 of the 7 invasive cancers; the others: empty cells and
    # one line naming them
    assert in_sheet.sum() == 4
    assert '3 lesion(s) have no row in' in proc.stdout
    assert table.loc[~in_sheet, 'size_mm'].isna().all()
    want = sheet.loc[index[in_sheet]]
    assert table.loc[in_sheet, 'patient_id'].tolist() == \
        want['patient_id'].tolist()
    assert table.loc[in_sheet, 'size_mm'].tolist() == \
        want['size_mm'].astype(float).tolist()
    assert table.loc[in_sheet, 'location'].tolist() == \
        want['location'].tolist()

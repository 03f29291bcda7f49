# Copyright (c) ecdl_mm contributors. All rights reserved.
"""fit_operating_point.py end to end on the demo (tiny untrained ResNet), its
refusal of the test sheet, and tools/test.py --operating-point."""
import copy
import functools
import json
import os.path as osp

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, recall_score
from statsmodels.stats.proportion import proportion_confint

CFG = 'tests/data/tiny_resnet_lesion_demo.py'


@functools.lru_cache(maxsize=None)
def _parsed_config():
    from mmengine.config import Config
    return Config.fromfile(CFG)


def tiny_config():
    """A copy of the parsed CFG (parsing it takes 0.2 s)."""
    return copy.deepcopy(_parsed_config())


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import ecdl_mm  # noqa: F401
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(tiny_config().model)
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


def _opts(demo_root):
    return ['--cfg-options', f'test_dataloader.dataset.data_root={demo_root}']


def run_fit(monkeypatch, *args):
    import runpy
    import sys
    script = 'tools/analysis/fit_operating_point.py'
    monkeypatch.setattr(sys, 'argv', [script] + [str(a) for a in args])
    runpy.run_path(script, run_name='__main__')


def test_refuses_the_test_sheet_and_a_missing_split(monkeypatch, capsys,
                                                    demo_root, tiny_checkpoint,
                                                    tmp_path):
    out = str(tmp_path / 'op.json')
    for extra, words in ((['--sheet', 'demo_test'],
                          "refusing to fit an operating point on the "
                          "config's test sheet 'demo_test'"),
                         ([], 'the config has no validation split'), ([
                             '--sheet', 'demo_train', '--targets',
                             'sensitivity:polyp=0.9'
                         ], "class 'polyp'")):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            run_fit(monkeypatch, CFG, tiny_checkpoint, '--out', out, *extra,
                    *_opts(demo_root))
        assert exc.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], lines
    assert not (tmp_path / 'op.json').exists()


def test_fit_then_test_with_the_operating_point(run_script, demo_root,
                                                tiny_checkpoint, tmp_path,
                                                monkeypatch, capfd):
    op_path = tmp_path / 'op.json'
    run_fit(monkeypatch, CFG, tiny_checkpoint, '--out', op_path, '--sheet',
            'demo_train', '--targets', 'accuracy=0.6', *_opts(demo_root))
    stdout = capfd.readouterr().out
    op = json.loads(op_path.read_text())
    assert op['format'] == 'ecdl_mm.operating_point/1'
    # provenance (issue 27): the fitted split and the checkpoint
    assert op['provenance']['sheet_name'] == 'demo_train'
    assert op['provenance']['checkpoint']['path'] == osp.abspath(
        str(tiny_checkpoint))
    assert op['validation']['num_lesions'] == 20  # demo_train
    assert len(op['validation']['views']) == 6
    chosen = min(op['validation']['views'], key=lambda v: v['lesion_nll'])
    assert op['validation']['chosen_view'] == chosen['key']
    assert f"* {chosen['key']}" in stdout
    sel = op['validation']['selective']['target accuracy=0.6']
    if op['thresholds']['accuracy=0.6'] is not None:
        assert sel['value'] >= 0.6

    work = tmp_path / 'test'
    run_script([
        'tools/test.py', CFG, tiny_checkpoint, '--work-dir',
        str(work), '--operating-point',
        str(op_path), '--report'
    ] + _opts(demo_root) + [f'test_evaluator.0.out_dir={work}/lesion_eval'])
    doc = json.loads((work / 'lesion_eval' / 'metrics.json').read_text())
    assert doc['operating_point']['temperature'] == pytest.approx(
        op['temperature'])
    assert doc['operating_point']['view'] == op['view']
    lesions = pd.read_csv(work / 'lesion_eval' / 'lesion_predictions.csv')
    accepted = lesions.confidence >= op['min_confidence']
    assert doc['metrics']['selective/coverage'] == pytest.approx(
        accepted.mean())
    # the test saw the view the operating point was fitted for: its image
    # probabilities equal predict_views' for that view on demo_test
    from ecdl_mm.evaluation.operating_point_fit import view_key
    from ecdl_mm.experiments import predict_views
    cfg = tiny_config()
    cfg.test_dataloader.dataset.data_root = demo_root
    ratio = op['view']['crop_ratio']
    views = predict_views(
        cfg, tiny_checkpoint, cfg.test_dataloader.dataset, crop_ratios=[ratio])
    _, probs = views['views'][view_key(op['view'])]
    images = pd.read_csv(work / 'lesion_eval' / 'image_predictions.csv')
    assert list(images.img_path) == views['img_paths']
    np.testing.assert_allclose(
        images[[c for c in images if c.startswith('prob_')]], probs, atol=1e-5)
    html = (work / 'lesion_eval' / 'report.html').read_text()
    for part in ('Operating point and selective metrics',
                 'Clinical decision table', 'Calibration'):
        assert part in html


def test_selective_numbers_equal_a_recount_from_the_csvs(tmp_path):
    """LesionMetric with an operating point, recomputed from
    image_predictions.csv with numpy / scikit-learn / statsmodels."""
    from ecdl_mm.evaluation import LesionMetric
    from ecdl_mm.evaluation.operating_point import OperatingPoint
    classes = ['adenomas', 'invasive_cancer', 'non-neoplastic']
    rng = np.random.default_rng(7)
    results = []
    for i in range(40):
        y = i % 3
        for j in range(1 + i % 3):
            logit = rng.normal(size=3) + 1.5 * np.eye(3)[y]
            results.append(
                dict(
                    score=np.exp(logit) / np.exp(logit).sum(),
                    gt_label=y,
                    lesion_id=f'L{i}',
                    patient_id=None,
                    img_path=f'/x/L{i}/{j}.jpg'))
    op = OperatingPoint(classes=classes, temperature=1.6, min_confidence=0.55)
    op.save(str(tmp_path / 'op.json'))
    out = tmp_path / 'eval'
    metrics = LesionMetric(
        bootstrap_rounds=0,
        classes=classes,
        operating_point=str(tmp_path / 'op.json'),
        out_dir=str(out)).compute_metrics(results)

    images = pd.read_csv(out / 'image_predictions.csv')
    p = images[[f'prob_{c}' for c in classes]].to_numpy()
    z = np.log(p) / 1.6
    cal = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    frame = pd.DataFrame(cal, columns=classes)
    frame['lesion'] = images.lesion_id
    frame['y'] = images.gt_label
    per = frame.groupby('lesion', sort=False).mean()
    conf = per[classes].max(axis=1).to_numpy()
    pred = per[classes].to_numpy().argmax(1)
    y = per['y'].to_numpy().astype(int)
    acc = conf >= 0.55
    assert 0 < acc.sum() < len(acc)
    assert metrics['selective/coverage'] == pytest.approx(acc.mean())
    assert metrics['selective/accuracy'] == pytest.approx(
        accuracy_score(y[acc], pred[acc]))
    k = int((y[acc] == pred[acc]).sum())
    assert (metrics['selective/accuracy_ci_lower'],
            metrics['selective/accuracy_ci_upper']) == pytest.approx(
                proportion_confint(k, int(acc.sum()), method='wilson'))
    sens = recall_score(y[acc], pred[acc], average=None, labels=[0, 1, 2])
    for c, s in zip(classes, sens):
        assert metrics[f'selective/sensitivity_{c}'] == pytest.approx(s)
    for i, c in enumerate(classes):
        neg = y[acc] != i
        assert metrics[f'selective/specificity_{c}'] == pytest.approx(
            np.mean(pred[acc][neg] != i))
        said_not = pred[acc] != i
        assert metrics[f'selective/npv_{c}'] == pytest.approx(
            np.mean(y[acc][said_not] != i))
    lesions = pd.read_csv(out / 'lesion_predictions.csv')
    np.testing.assert_array_equal(lesions.uncertain, ~acc)
    np.testing.assert_allclose(lesions.confidence, conf)
    doc = json.loads((out / 'metrics.json').read_text())
    assert doc['counts']['selective/accuracy'] == dict(
        k=k, n=int(acc.sum()), interval='wilson')
    # the decision table counts the confident calls against the truth
    leave = doc['decisions']['rows'][0]
    assert leave['action'] == 'leave in situ'
    assert leave['counts']['adenomas'] == int(
        ((pred == 2) & acc & (y == 0)).sum())
    assert doc['decisions']['num_deferred'] == int((~acc).sum())
    # AURC equals the mean risk over acceptance sizes (no ties here)
    order = np.argsort(-conf)
    wrong = (pred != y)[order]
    assert metrics['selective/aurc'] == pytest.approx(
        np.mean(np.cumsum(wrong) / np.arange(1,
                                             len(wrong) + 1)))
    for name in ('reliability_lesion.png', 'risk_coverage.png'):
        assert (out / name).stat().st_size > 0


def test_flip_view_with_model_cfg_options(run_script, demo_root,
                                          tiny_checkpoint, tmp_path):
    """A flip view turns on flip TTA: the image probabilities tools/test.py
    writes equal the mean of the classifier's on each image and its mirror
    (computed in the test); a `model.` option still reaches the model, not
    the TTA wrapper."""
    from ecdl_mm.evaluation.operating_point import OperatingPoint

    # the untrained net scores every image about alike: a sharper head
    # makes the mirror change the scores by far more than the tolerance
    state = torch.load(tiny_checkpoint, weights_only=True)
    state['state_dict']['head.fc.weight'] *= 30
    tiny_checkpoint = str(tmp_path / 'sharp.pth')
    torch.save(state, tiny_checkpoint)
    op = tmp_path / 'op.json'
    OperatingPoint(
        classes=['adenomas', 'invasive_cancer', 'non-neoplastic'],
        view=dict(name='center_crop', crop_ratio=0.875,
                  flip=True)).save(str(op))
    work = tmp_path / 'test'
    proc = run_script([
        'tools/test.py', CFG, tiny_checkpoint, '--work-dir',
        str(work), '--operating-point',
        str(op)
    ] + _opts(demo_root) + [
        'model.head.num_classes=3', f'test_evaluator.0.out_dir={work}/le',
        'test_evaluator.0.bootstrap_rounds=0'
    ])
    # the config as run: in the log file (one line on the terminal)
    [log] = work.glob('*/*.log')
    assert "type='ViewTTAModel'" in log.read_text()
    assert "type='CenterCropRatio'" in log.read_text()
    assert 'CenterCropRatio' not in proc.stdout
    doc = json.loads((work / 'le' / 'metrics.json').read_text())
    assert doc['operating_point']['view']['flip'] is True
    # the scores the tool used are flip-averaged: each image's probabilities
    # equal the mean of mmpretrain's predict on the cropped image and on its
    # horizontal mirror, computed here with the classifier and the pipeline
    # written out (crop inserted after loading by hand)
    written = pd.read_csv(work / 'le' / 'image_predictions.csv')
    plain, averaged = _plain_and_flip_averaged(demo_root, tiny_checkpoint,
                                               0.875)
    assert sorted(written.img_path) == sorted(averaged)
    prob_cols = [c for c in written if c.startswith('prob_')]
    assert len(prob_cols) == 3
    got = written.set_index('img_path')[prob_cols]
    np.testing.assert_allclose(
        got.loc[list(averaged)].to_numpy(),
        np.stack(list(averaged.values())),
        rtol=0,
        atol=1e-5)
    # the mirror matters for this model: the plain scores are another answer
    gap = np.abs(
        np.stack(list(plain.values())) -
        np.stack(list(averaged.values()))).max()
    assert gap > 1e-4, gap


def _plain_and_flip_averaged(demo_root, checkpoint, crop_ratio):
    """``({img_path: probs}, {img_path: flip-averaged probs})`` of the test
    sheet: two calls of ``ImageClassifier(..., mode='predict')`` per batch,
    one on the images and one on their horizontal mirrors."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS, MODELS

    import ecdl_mm  # noqa: F401
    init_default_scope('mmpretrain')
    cfg = tiny_config()
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model).eval()
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    model.load_state_dict(state['state_dict'])
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.data_root = demo_root
    ds_cfg.serialize_data = False  # its gc.collect() costs 0.2 s
    load, *rest = ds_cfg.pipeline
    ds_cfg.pipeline = [load,
                       dict(type='CenterCropRatio', ratio=crop_ratio)] + rest
    dataset = DATASETS.build(ds_cfg)
    plain, averaged = {}, {}
    with torch.no_grad():
        for start in range(0, len(dataset), 8):
            batch = pseudo_collate([
                dataset[i] for i in range(start, min(start + 8, len(dataset)))
            ])
            data = model.data_preprocessor(batch, False)
            x = data['inputs']
            a = model(x, mode='predict')
            b = model(x.flip(-1), mode='predict')
            for sample, pa, pb in zip(data['data_samples'], a, b):
                plain[sample.img_path] = pa.pred_score.numpy()
                averaged[sample.img_path] = ((pa.pred_score + pb.pred_score) /
                                             2).numpy()
    return plain, averaged


def test_relative_ann_file_is_taken_from_the_working_directory(
        monkeypatch, capsys, repo_root, demo_root, tiny_checkpoint, tmp_path):
    # issue 28: `--ann-file work_dirs/x/splits.xlsx` was joined to data_root
    import os.path as osp
    import shutil
    cwd = tmp_path / 'cwd'
    (cwd / 'mine').mkdir(parents=True)
    shutil.copy(
        osp.join(demo_root, 'dataset_divide.xlsx'),
        cwd / 'mine' / 'splits.xlsx')
    assert not osp.exists(osp.join(demo_root, 'mine', 'splits.xlsx'))
    monkeypatch.chdir(cwd)
    out = cwd / 'op.json'
    script = osp.join(repo_root, 'tools/analysis/fit_operating_point.py')
    import runpy
    import sys
    monkeypatch.setattr(sys, 'argv', [
        script,
        osp.join(repo_root, CFG), tiny_checkpoint, '--out',
        str(out), '--ann-file', 'mine/splits.xlsx', '--sheet', 'demo_train',
        *_opts(demo_root)
    ])
    runpy.run_path(script, run_name='__main__')
    assert json.loads(out.read_text())['validation']['num_lesions'] == 20

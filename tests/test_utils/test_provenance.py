# Copyright (c) ecdl_mm contributors. All rights reserved.
"""ecdl_mm.utils.provenance: what a result records about where it came from
(the end-to-end check on tools/test.py, compare_models.py, reader_study.py
and lesion_report.py is in tests/test_tools/test_readme_commands.py)."""
import datetime
import json
import os.path as osp
import shlex
import subprocess
import sys

import pandas as pd
import pytest
import torch
from mmengine.config import Config

from ecdl_mm.evaluation.report import HtmlReport
from ecdl_mm.utils.provenance import (collect_provenance, dataset_source,
                                      provenance_from_config, provenance_lines,
                                      read_sidecar, record_provenance,
                                      sidecar_path)

STAGE3 = 'configs/ecdl/ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py'


def sha256sum(path):
    return subprocess.run(['sha256sum', str(path)],
                          capture_output=True,
                          text=True,
                          check=True).stdout.split()[0]


def test_collect_provenance_hashes_and_versions(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("model = dict(type='ImageClassifier')\n")
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': {'w': torch.arange(5.)}}, ckpt)
    argv = ['tools/test.py', str(cfg), str(ckpt), '--note', 'a b']
    before = datetime.datetime.now(datetime.timezone.utc)
    prov = collect_provenance(
        str(cfg),
        str(ckpt),
        data_root=str(tmp_path),
        split_sheet='s.xlsx',
        sheet_name='test',
        argv=argv)
    assert prov['config'] == {'path': str(cfg), 'sha256': sha256sum(cfg)}
    assert prov['checkpoint'] == {
        'path': str(ckpt),
        'sha256_prefix': sha256sum(ckpt)[:16]
    }
    assert prov['data_root'] == str(tmp_path)
    assert prov['split_sheet'] == osp.abspath('s.xlsx')
    assert prov['sheet_name'] == 'test'
    date = datetime.datetime.fromisoformat(prov['date'])
    assert abs((date - before).total_seconds()) < 60
    assert prov['versions']['torch'] == torch.__version__
    assert set(prov['versions']) == {
        'ecdl_mm', 'mmpretrain', 'mmengine', 'torch', 'python'
    }
    # the command line round-trips through the shell quoting
    assert shlex.split(prov['command'])[1:] == argv
    json.dumps(prov)  # JSON-ready as it is


def test_url_or_missing_checkpoint_has_no_hash(tmp_path):
    url = 'https://example.org/ecvit-b-0123abcd.pth'
    assert collect_provenance(checkpoint=url)['checkpoint'] == {
        'path': url,
        'sha256_prefix': None
    }
    missing = str(tmp_path / 'nope.pth')
    prov = collect_provenance(checkpoint=missing, argv=['x'])
    assert prov['checkpoint'] == {'path': missing, 'sha256_prefix': None}
    assert prov['config'] is None


def test_dataset_source_looks_through_wrappers(repo_root):
    cfg = Config.fromfile(osp.join(repo_root, STAGE3))
    root = osp.abspath(cfg.test_dataloader.dataset.data_root)
    assert dataset_source(cfg, 'test') == (root,
                                           osp.join(root,
                                                    'dataset_divide.xlsx'),
                                           'demo_test')
    # train: ClassBalancedDataset(dataset=ECNBIDataset(...))
    assert cfg.train_dataloader.dataset.type == 'ClassBalancedDataset'
    assert dataset_source(cfg, 'train')[2] == 'demo_train'
    assert dataset_source(cfg, 'val') == (None, None, None)  # no val loop
    prov = provenance_from_config(cfg, osp.join(repo_root, STAGE3))
    assert prov['sheet_name'] == 'demo_test'
    assert prov['config']['sha256'] == sha256sum(osp.join(repo_root, STAGE3))


def test_record_provenance_keeps_csvs_plain(tmp_path):
    out = tmp_path / 'lesion_eval'
    out.mkdir()
    (out / 'metrics.json').write_text(json.dumps({'metrics': {'a': 1.0}}))
    table = pd.DataFrame({'lesion_id': ['c/1', 'c/2'], 'p': [0.2, 0.8]})
    table.to_csv(out / 'lesion_predictions.csv', index=False)
    extra = tmp_path / 'results.pkl'
    extra.write_bytes(b'x')
    prov = collect_provenance(argv=['tools/test.py'])
    written = record_provenance(prov, [str(out)], files=[str(extra)])
    assert sorted(written) == sorted([
        str(out / 'metrics.json'),
        sidecar_path(out / 'lesion_predictions.csv'),
        sidecar_path(extra)
    ])
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics == {'metrics': {'a': 1.0}, 'provenance': prov}
    assert read_sidecar(str(out / 'lesion_predictions.csv')) == prov
    assert read_sidecar(str(extra)) == prov
    pd.testing.assert_frame_equal(
        pd.read_csv(out / 'lesion_predictions.csv'), table)
    assert read_sidecar(str(tmp_path / 'other.csv')) is None


def test_report_header_shows_provenance_and_its_inputs(tmp_path):
    ckpt = tmp_path / 'm.pth'
    ckpt.write_bytes(b'weights')
    csv = tmp_path / 'lesion_predictions.csv'
    csv.write_text('lesion_id\nc/1\n')
    run = collect_provenance(
        checkpoint=str(ckpt), sheet_name='demo_test', argv=['tools/test.py'])
    with open(sidecar_path(csv), 'w') as f:
        json.dump(run, f)
    prov = collect_provenance(
        inputs={'A <model>': str(csv)}, argv=['compare_models.py'])
    assert prov['inputs']['A <model>']['provenance'] == run
    lines = dict(provenance_lines(prov))
    assert lines['input A <model>'] == (
        f'{csv} (sha256 {sha256sum(csv)[:16]}); from checkpoint {ckpt} '
        f'(sha256 {sha256sum(ckpt)[:16]}), sheet demo_test')
    rep = HtmlReport('t')
    rep.set_provenance(prov)
    page = rep.render()
    header = page.split('<header>', 1)[1].split('</header>', 1)[0]
    assert 'id="provenance"' in header
    assert 'input A &lt;model&gt;' in header  # escaped
    assert sys.version.split()[0] in header
    assert 'id="provenance"' not in HtmlReport('t').render()


@pytest.mark.parametrize('split', ['test', 'train'])
def test_dataset_source_joins_relative_sheets(split):
    cfg = Config({
        f'{split}_dataloader':
        dict(dataset=dict(type='X', data_root='/data/c1', ann_file='s.csv'))
    })
    assert dataset_source(cfg, split) == ('/data/c1', '/data/c1/s.csv', None)

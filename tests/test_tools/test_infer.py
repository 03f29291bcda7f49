import json
import os.path as osp

import pandas as pd


from helpers import TINY_CONFIG as CONFIG
from helpers import save_tiny_checkpoint


def test_infer_tool_on_demo_folders(run_tool, repo_root, demo_root, tmp_path):
    ckpt = str(tmp_path / 'tiny.pth')
    save_tiny_checkpoint(repo_root, ckpt)
    out_csv, out_json = str(tmp_path / 'l.csv'), str(tmp_path / 'l.json')
    proc = run_tool([
        'tools/infer.py', CONFIG, ckpt,
        osp.join(demo_root, 'invasive_cancer'),
        osp.join(demo_root, 'adenomas', '2'), '--out-csv', out_csv,
        '--out-json', out_json, '--batch-size', '4', '--device', 'cpu',
        '--threads', '1'
    ])
    assert '8 lesion(s), aggregation=mean' in proc.stdout
    table = pd.read_csv(out_csv, dtype={'lesion_id': str})
    assert list(table['lesion_id']) == [
        '14', '17', '18', '736', '740', '746', '750', '2'
    ]
    probs = table[[c for c in table.columns if c.startswith('prob_')]]
    assert (abs(probs.sum(axis=1) - 1) < 1e-5).all()
    for _, row in table.iterrows():
        assert f'{row["lesion_id"]}  ' in proc.stdout
    results = json.load(open(out_json))
    assert results[0]['images'][0]['img_path'].endswith('.jpg')
    assert results[-1]['path'] == osp.join(demo_root, 'adenomas', '2')

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""No checkpoint source runs pickled code, through the tools (issue 10).

Our tools (test.py, infer.py, train.py --resume, a model converter) and
mmpretrain's own train.py / test.py run on our configs (in-process, as
``python tools/x.py`` would: ``run_script``) with a checkpoint URL from the
local test server (``checkpoint_server``): the evil one is refused (ours:
exit 2 and one line naming the URL and the object; mmpretrain's: a traceback
ending in ``UnsafeCheckpointError``) without running its payload, the benign
one loads. ``TORCH_HOME`` is the test's own.
"""
import os.path as osp
import shutil

import mmengine
import mmpretrain
import numpy as np
import pandas as pd
import pytest
import torch
from helpers import TINY_CONFIG as CONFIG
from helpers import save_tiny_checkpoint
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401
from ecdl_mm.apis import LesionInferencer

MMPRETRAIN_TOOLS = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools')
CFG = 'tests/data/tiny_resnet_demo.py'


def data_opts(demo_root):
    return [
        f'{split}_dataloader.dataset.data_root={demo_root}'
        for split in ('train', 'val', 'test')
    ]


def tiny_model(repo_root, seed):
    init_default_scope('mmpretrain')
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(osp.join(repo_root, CFG)).model)
    model.init_weights()
    return model


def assert_one_line_refusal(proc, url, server):
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert url in lines[0] and '`posix.system`' in lines[0]
    assert 'Traceback' not in proc.stderr
    assert not osp.exists(server.marker)
    assert server.cached_files() == []


def assert_traceback_refusal(proc, url, server):
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('ecdl_mm.utils.checkpoint.UnsafeCheckpointError')
    assert url in last and 'posix.system' in last
    assert not osp.exists(server.marker)
    assert server.cached_files() == []


def test_test_tool(run_script, checkpoint_server, repo_root, demo_root,
                   tmp_path):
    server = checkpoint_server
    url = server.evil()
    proc = run_script([
        'tools/test.py', CFG, url, '--work-dir',
        str(tmp_path / 'evil'), '--cfg-options', *data_opts(demo_root)
    ],
                      check=False)
    assert_one_line_refusal(proc, url, server)

    model = tiny_model(repo_root, seed=5)
    local = str(tmp_path / 'tiny.pth')
    torch.save({'state_dict': model.state_dict()}, local)
    shutil.copy(local, osp.join(server.root, 'tiny.pth'))
    out = str(tmp_path / 'preds.pkl')
    run_script([
        'tools/test.py', CFG,
        server.url('tiny.pth'), '--work-dir',
        str(tmp_path / 'ok'), '--out', out, '--cfg-options',
        *data_opts(demo_root)
    ])
    preds = mmengine.load(out)[:3]
    # mmpretrain's own inferencer on the local copy gives the same scores
    from mmpretrain.apis import ImageClassificationInferencer
    cfg = Config.fromfile(osp.join(repo_root, CFG))
    ref = ImageClassificationInferencer(
        cfg, pretrained=local)([p['img_path'] for p in preds])
    for p, r in zip(preds, ref):
        np.testing.assert_allclose(
            p['pred_score'].numpy(), r['pred_scores'], atol=1e-5)
    assert server.cached_files() == ['tiny.pth']


def test_infer_tool(run_script, checkpoint_server, repo_root, demo_root,
                    tmp_path):
    server = checkpoint_server
    lesions = osp.join(demo_root, 'invasive_cancer')
    url = server.evil()
    proc = run_script(
        ['tools/infer.py', CONFIG, url, lesions, '--threads', '1'],
        check=False)
    assert_one_line_refusal(proc, url, server)

    local = str(tmp_path / 'tiny.pth')
    save_tiny_checkpoint(repo_root, local, seed=6)
    shutil.copy(local, osp.join(server.root, 'tiny.pth'))
    csv = str(tmp_path / 'lesions.csv')
    run_script([
        'tools/infer.py', CONFIG,
        server.url('tiny.pth'), lesions, '--out-csv', csv, '--device', 'cpu',
        '--threads', '1', '--no-progress'
    ])
    table = pd.read_csv(csv, dtype={'lesion_id': str})
    ref = LesionInferencer(osp.join(repo_root, CONFIG), local, device='cpu')
    rows = ref.results_to_rows(ref(lesions, show_progress=False))
    assert list(table['lesion_id']) == [r['lesion_id'] for r in rows]
    assert list(table['lesion_id'])[0].startswith('ecdl-demo/')
    for (_, row), r in zip(table.iterrows(), rows):
        for name, prob in r.items():
            if name.startswith('prob_'):
                assert row[name] == pytest.approx(prob, abs=1e-5)


def test_train_tool_resume_url(run_script, checkpoint_server, demo_root,
                               tmp_path):
    url = checkpoint_server.evil()
    proc = run_script([
        'tools/train.py', CFG, '--work-dir',
        str(tmp_path), '--resume', url, '--cfg-options', *data_opts(demo_root)
    ],
                      check=False)
    assert_one_line_refusal(proc, url, checkpoint_server)


def test_model_converter_tool(run_script, checkpoint_server, tmp_path):
    url = checkpoint_server.evil()
    dst = tmp_path / 'out.pth'
    proc = run_script(
        ['tools/model_converters/timm_to_mmpretrain.py', url,
         str(dst)],
        check=False)
    assert_one_line_refusal(proc, url, checkpoint_server)
    assert not dst.exists()


def test_mmpretrain_train_tool_init_cfg_url(run_script, checkpoint_server,
                                            repo_root, demo_root, tmp_path):
    """mmpretrain's own train.py: the config's custom_imports import ecdl_mm,
    which replaces the loaders behind init_cfg's Pretrained."""
    server = checkpoint_server
    url = server.evil()
    opts = [
        'model.backbone.init_cfg.type=Pretrained', 'train_cfg.max_epochs=1',
        *data_opts(demo_root)
    ]
    proc = run_script([
        f'{MMPRETRAIN_TOOLS}/train.py', CFG, '--work-dir',
        str(tmp_path / 'evil'), '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={url}', *opts
    ],
                      check=False)
    assert_traceback_refusal(proc, url, server)

    backbone = tiny_model(repo_root, seed=7).backbone
    url = server.save('resnet.pth', {'state_dict': backbone.state_dict()})
    proc = run_script([
        f'{MMPRETRAIN_TOOLS}/train.py', CFG, '--work-dir',
        str(tmp_path / 'ok'), '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={url}', *opts
    ])
    assert f'Loads checkpoint by http backend from path: {url}' in proc.stdout
    assert 'do not match exactly' not in proc.stdout + proc.stderr
    assert server.cached_files() == ['resnet.pth']


def test_mmpretrain_test_tool_url(run_script, checkpoint_server, repo_root,
                                  demo_root, tmp_path):
    server = checkpoint_server
    url = server.evil()
    proc = run_script([
        f'{MMPRETRAIN_TOOLS}/test.py', CFG, url, '--work-dir',
        str(tmp_path / 'evil'), '--cfg-options', *data_opts(demo_root)
    ],
                      check=False)
    assert_traceback_refusal(proc, url, server)

    model = tiny_model(repo_root, seed=8)
    url = server.save('tiny.pth', {'state_dict': model.state_dict()})
    proc = run_script([
        f'{MMPRETRAIN_TOOLS}/test.py', CFG, url, '--work-dir',
        str(tmp_path / 'ok'), '--cfg-options', *data_opts(demo_root)
    ])
    assert f'Loads checkpoint by http backend from path: {url}' in proc.stdout
    assert 'accuracy/top1' in proc.stdout

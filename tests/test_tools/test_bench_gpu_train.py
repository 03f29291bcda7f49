# Copyright (c) ecdl_mm contributors. All rights reserved.
"""benchmarks/bench_gpu_train.py on the CPU with the tiny demo configs: the
training steps run through the config's hooks, nothing is downloaded, and
``--json`` holds one entry per case."""
import importlib.util
import json
import os.path as osp
import sys
from types import SimpleNamespace

import pytest

STAGE2_DEMO = 'configs/ecdl/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py'
STAGE3_DEMO = \
    'configs/ecdl/ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py'


def _bench_module(repo_root):
    path = osp.join(repo_root, 'benchmarks', 'bench_gpu_train.py')
    spec = importlib.util.spec_from_file_location('bench_gpu_train', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_quick_run_writes_every_case(run_script, tmp_path):
    out = tmp_path / 'train.json'
    proc = run_script([
        'benchmarks/bench_gpu_train.py', '--device', 'cpu', '--quick',
        '--stage2', STAGE2_DEMO, '--stage3', STAGE3_DEMO, '--batch', '4',
        '--images', '16', '--iters', '4', '--steps', '2', '--warmup', '1',
        '--workers', '0', '--only', 'stage2_ecmae', 'stage3_ecdl_clustering',
        'stage3_timm_vit', '--json',
        str(out), '--out',
        str(tmp_path / 'full.json')
    ])
    result = json.loads(out.read_text())
    assert sorted(result) == [
        'stage2_ecmae', 'stage3_ecdl_clustering', 'stage3_timm_vit'
    ]
    for name in ('stage2_ecmae', 'stage3_ecdl_clustering'):
        row = result[name]
        # 16 images in batches of 4: one epoch of 4 iterations
        assert row['iters'] == 4
        assert row['e2e_vs_step'] == pytest.approx(
            row['e2e_img_per_s'] / row['img_per_s'], abs=2e-3)
        assert row['peak_gib'] is None  # no GPU
    # the clustering steps bank their features as in training (without
    # the hook the head stops at the second step)
    assert result['stage3_ecdl_clustering']['hooks_in_step'] == [
        'ClassCenterHook'
    ]
    assert result['stage2_ecmae']['hooks_in_step'] == []
    timm = result['stage3_timm_vit']
    if importlib.util.find_spec('timm') is None:
        assert timm == dict(
            case='stage3_timm_vit',
            img_per_s=None,
            skipped='timm is not installed')
        assert proc.stdout.count('timm is not installed') == 1
    else:
        assert timm['img_per_s'] > 0
    # the Markdown table: a header, a rule and one row per case
    table = [ln for ln in proc.stdout.splitlines() if ln.startswith('|')]
    assert len(table) == 2 + 3
    assert table[2].startswith('| stage2_ecmae | ')


@pytest.mark.parametrize('stage,name', [
    (2, 'ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py'),
    (3, 'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py'),
    (3, 'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi-gpu-augment.py'),
])
def test_full_size_cases_download_nothing(repo_root, tmp_path, stage, name):
    bench = _bench_module(repo_root)
    args = SimpleNamespace(
        device='cpu', batch=64, workers=2, images=512, iters=300)
    cfg, total = bench.configure(
        osp.join(repo_root, 'configs', 'ecdl', name), args, str(tmp_path),
        None, stage)
    for part in ('backbone', 'neck', 'head'):
        init = (cfg.model.get(part) or {}).get('init_cfg')
        inits = init if isinstance(init, list) else [init]
        assert not any(i and i.get('type') == 'Pretrained' for i in inits)
    # the dataloader defaults of tools/train.py (the GPU-augment config
    # keeps its byte strings in a list); fp32 without a GPU
    assert cfg.train_dataloader.collate_fn == dict(
        type='pseudo_collate' if 'gpu-augment' in name else 'default_collate')
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert total == 8 * 38  # ceil(300 / 8) epochs of 512 // 64 iterations


@pytest.mark.parametrize('restart', [False, True])
def test_synthetic_cohort_with_restart_markers(repo_root, tmp_path, restart,
                                               monkeypatch):
    # --restart-markers: every synthetic JPEG carries a marker after each
    # MCU and their index, as add_restart_markers.py writes a copy
    import glob

    import cv2

    from ecdl_mm.datasets.transforms import jpeg_restart
    bench = _bench_module(repo_root)
    # its pool pickles _write_image by module name
    monkeypatch.setitem(sys.modules, 'bench_gpu_train', bench)
    assert bench.make_cohort(
        str(tmp_path), 2, per_lesion=2, restart=restart) == 2
    files = sorted(glob.glob(str(tmp_path / '*' / '*' / 'Images' / '*.jpg')))
    assert len(files) == 2
    for f in files:
        data = open(f, 'rb').read()
        layout = jpeg_restart.scan_layout(data)
        assert (layout is not None) == restart
        if restart:
            assert jpeg_restart.INDEX_ID in data[:layout.scan_start]
        assert cv2.imread(f).shape == (1009, 1160, 3)
    # what main() checks before reusing a --data cohort for --restart-markers
    assert bench.cohort_is_restart_marked(str(tmp_path)) == restart

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""No checkpoint source runs pickled code (issue 10).

A local HTTP server (``checkpoint_server`` in conftest.py) serves an evil
checkpoint, whose pickle would create a marker file, and benign ones. Every
in-process entry point must refuse the first with ``UnsafeCheckpointError``
naming the URL, leave no file in the torch hub cache and still load the
others. The tools are covered in tests/test_tools/test_checkpoint_sources.py.
"""
import hashlib
import os
import os.path as osp
import shutil
import sys
import types
import uuid

import mmengine.runner.checkpoint as mm_ckpt
import pytest
import torch
from helpers import (TINY_CONFIG, TINY_VIT_ARCH, check_logits,
                     save_tiny_checkpoint, to_timm_keys)
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401
import ecdl_mm.utils.checkpoint_loaders as our_loaders
from ecdl_mm.apis import LesionInferencer
from ecdl_mm.models.utils.model_converter import convert_file
from ecdl_mm.utils import CheckpointKindError, UnsafeCheckpointError, safe_load

TINY_CFG = 'tests/data/tiny_resnet_demo.py'


def assert_refused(err, url, server):
    msg = str(err.value)
    assert url in msg and 'system' in msg and 'allow-list' in msg
    assert not osp.exists(server.marker)
    # the downloaded file is deleted, and no partial download is left
    assert server.cached_files() == []


def test_every_mmengine_scheme_is_guarded():
    # the two funnels every mmengine loader unpickles through are ours ...
    assert mm_ckpt.load_url is our_loaders.load_url
    assert mm_ckpt.torch.load is our_loaders._WeightsOnlyTorch.load
    assert mm_ckpt.torch.nn is torch.nn  # ... and the rest is torch
    # ... and every registered scheme is wrapped (errors name the source)
    schemes = CheckpointLoader._schemes
    assert len(schemes) >= 11
    for prefix, loader in schemes.items():
        assert getattr(loader, 'ecdl_mm_guarded', False), prefix


def test_safe_load_url(checkpoint_server):
    server = checkpoint_server
    url = server.evil()
    with pytest.raises(UnsafeCheckpointError) as err:
        safe_load(url)
    assert_refused(err, url, server)
    # refused again on a second try: it was not kept in the cache
    with pytest.raises(UnsafeCheckpointError):
        safe_load(url)
    assert server.requests.count('/evil.pth') == 2

    weights = {'w': torch.arange(4.)}
    url = server.save('ok.pth', {'state_dict': weights})
    out = safe_load(url)
    torch.testing.assert_close(out['state_dict']['w'], weights['w'])
    assert server.cached_files() == ['ok.pth']
    safe_load(url)  # from the cache
    assert server.requests.count('/ok.pth') == 1


def test_url_ignores_torch_force_no_weights_only(checkpoint_server,
                                                 monkeypatch, tmp_path):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    url = checkpoint_server.evil()
    with pytest.raises(UnsafeCheckpointError):
        safe_load(url)
    shutil.copy(
        osp.join(checkpoint_server.root, 'evil.pth'), tmp_path / 'evil.pth')
    with pytest.raises(UnsafeCheckpointError):
        safe_load(tmp_path / 'evil.pth')
    assert not osp.exists(checkpoint_server.marker)


def test_hash_in_file_name_is_checked(checkpoint_server):
    server = checkpoint_server
    server.save('tmp.pth', {'w': torch.ones(3)})
    with open(osp.join(server.root, 'tmp.pth'), 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    for name in (f'w-{digest[:8]}.pth', 'w-deadbeef.pth'):
        shutil.copy(
            osp.join(server.root, 'tmp.pth'), osp.join(server.root, name))
    torch.testing.assert_close(
        safe_load(server.url(f'w-{digest[:8]}.pth'))['w'], torch.ones(3))
    with pytest.raises(CheckpointKindError, match='deadbeef'):
        safe_load(server.url('w-deadbeef.pth'))
    assert server.cached_files() == [f'w-{digest[:8]}.pth']


def test_evil_file_already_in_cache_is_refused_and_named(checkpoint_server):
    server = checkpoint_server
    url = server.evil()
    os.makedirs(server.cache_dir)
    shutil.copy(osp.join(server.root, 'evil.pth'), server.cache_dir)
    with pytest.raises(UnsafeCheckpointError) as err:
        safe_load(url)
    assert osp.join(server.cache_dir, 'evil.pth') in str(err.value)
    assert server.requests == []  # nothing downloaded
    assert not osp.exists(server.marker)


def test_not_a_checkpoint(checkpoint_server, tmp_path):
    with open(osp.join(checkpoint_server.root, 'notes.pth'), 'w') as f:
        f.write('not a checkpoint\n')
    with pytest.raises(CheckpointKindError, match='not a PyTorch checkpoint'):
        safe_load(checkpoint_server.url('notes.pth'))
    assert checkpoint_server.cached_files() == []
    (tmp_path / 'empty.pth').write_bytes(b'')
    with pytest.raises(CheckpointKindError, match='empty.pth'):
        safe_load(tmp_path / 'empty.pth')


@pytest.fixture
def fake_sources(checkpoint_server, monkeypatch, tmp_path):
    """Every other mmengine scheme pointed at the test server or at local
    bytes: model-name tables, mmengine's home, an s3 backend, pavi."""
    server = checkpoint_server
    names = {'evil': server.url('evil.pth'), 'ok': server.url('ok.pth')}
    monkeypatch.setattr(mm_ckpt, 'get_torchvision_models', lambda: names)
    monkeypatch.setattr(mm_ckpt, 'get_mmcls_models', lambda: names)
    monkeypatch.setattr(
        mm_ckpt, 'get_external_models', lambda: dict(
            names, evil_local='evil_local.pth', ok_local='ok_local.pth'))
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path / 'mmengine_home'))
    os.makedirs(tmp_path / 'mmengine_home')

    class Backend:

        def get(self, filename):
            name = filename.split('/')[-1]
            with open(osp.join(server.root, name), 'rb') as f:
                return f.read()

    monkeypatch.setattr(mm_ckpt, 'get_file_backend',
                        lambda *args, **kwargs: Backend())

    class Model:

        def __init__(self, name):
            self.name = name

        def download(self, dst):
            shutil.copy(osp.join(server.root, self.name), dst)

    pavi = types.ModuleType('pavi')
    pavi.modelcloud = types.SimpleNamespace(get=Model)
    monkeypatch.setitem(sys.modules, 'pavi', pavi)

    server.evil()
    weights = {'backbone.w': torch.arange(3.)}
    server.save('ok.pth', {'state_dict': weights})
    for name in ('evil', 'ok'):
        shutil.copy(
            osp.join(server.root, f'{name}.pth'),
            tmp_path / 'mmengine_home' / f'{name}_local.pth')
    return weights


@pytest.mark.parametrize('source', [
    'torchvision://{}', 'modelzoo://{}', 'open-mmlab://{}', 'openmmlab://{}',
    'open-mmlab://{}_local', 'mmcls://{}', 's3://bucket/{}.pth',
    'petrel://bucket/{}.pth', 'pavi://{}.pth'
])
def test_other_schemes(fake_sources, checkpoint_server, source):
    with pytest.raises(UnsafeCheckpointError) as err:
        safe_load(source.format('evil'))
    assert 'system' in str(err.value)
    assert not osp.exists(checkpoint_server.marker)
    assert checkpoint_server.cached_files() == []

    out = safe_load(source.format('ok'))
    # mmcls:// strips the `backbone.` prefix, as mmengine's loader does
    key = 'w' if source.startswith('mmcls') else 'backbone.w'
    torch.testing.assert_close(out['state_dict'][key],
                               fake_sources['backbone.w'])


def ecvit(**kwargs):
    return MODELS.build(
        dict(
            type='ECViT',
            arch=TINY_VIT_ARCH,
            img_size=32,
            patch_size=16,
            **kwargs))


def test_init_cfg_pretrained(checkpoint_server):
    server = checkpoint_server
    torch.manual_seed(1)
    source = ecvit()
    url = server.evil(payload={
        'state_dict': {
            f'backbone.{k}': v
            for k, v in source.state_dict().items()
        }
    })
    for prefix in ('backbone.', None):  # both mmengine code paths
        model = ecvit(
            init_cfg=dict(type='Pretrained', checkpoint=url, prefix=prefix))
        with pytest.raises(UnsafeCheckpointError) as err:
            model.init_weights()
        assert_refused(err, url, server)

    url = server.save('encoder.pth', {
        'state_dict': {
            f'backbone.{k}': v
            for k, v in source.state_dict().items()
        }
    })
    torch.manual_seed(2)
    model = ecvit(
        init_cfg=dict(type='Pretrained', checkpoint=url, prefix='backbone.'))
    model.init_weights()
    for k, v in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v)


def tiny_runner(repo_root, demo_root, work_dir, **overrides):
    cfg = Config.fromfile(osp.join(repo_root, TINY_CFG))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = demo_root
    cfg.work_dir = str(work_dir)
    # runners built within one second would share logger and visualizer
    cfg.experiment_name = f'{osp.basename(work_dir)}_{uuid.uuid4().hex}'
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.merge_from_dict(overrides)
    return Runner.from_cfg(cfg)


def state_of(runner):
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


def test_runner_load_from(checkpoint_server, repo_root, demo_root, tmp_path):
    server = checkpoint_server
    url = server.evil()
    runner = tiny_runner(repo_root, demo_root, tmp_path / 'a', load_from=url)
    with pytest.raises(UnsafeCheckpointError) as err:
        runner.load_or_resume()
    assert_refused(err, url, server)

    torch.manual_seed(3)
    model = MODELS.build(Config.fromfile(osp.join(repo_root, TINY_CFG)).model)
    url = server.save('trained.pth', {'state_dict': model.state_dict()})
    runner = tiny_runner(repo_root, demo_root, tmp_path / 'b', load_from=url)
    runner.load_or_resume()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(runner.model.state_dict()[k], v)


def test_resume_from_url_or_path(checkpoint_server, repo_root, demo_root,
                                 tmp_path):
    server = checkpoint_server
    url = server.evil()
    evil_path = str(tmp_path / 'evil_local.pth')
    shutil.copy(osp.join(server.root, 'evil.pth'), evil_path)
    for source in (url, evil_path):
        runner = tiny_runner(
            repo_root,
            demo_root,
            tmp_path / 'r',
            resume=True,
            load_from=source)
        with pytest.raises(UnsafeCheckpointError) as err:
            runner.train()
        assert source in str(err.value)
        assert not osp.exists(server.marker)
    assert server.cached_files() == []

    # a real resume checkpoint (optimizer, message hub, ...) from a URL
    runner = tiny_runner(repo_root, demo_root, tmp_path / 'first')
    runner.train()
    trained = state_of(runner)
    shutil.copy(tmp_path / 'first' / 'epoch_1.pth',
                osp.join(server.root, 'epoch_1.pth'))
    runner = tiny_runner(
        repo_root,
        demo_root,
        tmp_path / 'resumed',
        resume=True,
        load_from=server.url('epoch_1.pth'))
    runner.train()  # resumes at the end of epoch 1: nothing left to train
    meta = safe_load(tmp_path / 'first' / 'epoch_1.pth')['meta']
    assert runner.epoch == 1 and runner.iter == meta['iter'] > 0
    for k, v in trained.items():
        torch.testing.assert_close(runner.model.state_dict()[k], v)


def test_load_checkpoint_and_lesion_inferencer(checkpoint_server, repo_root,
                                               demo_root, tmp_path):
    server = checkpoint_server
    url = server.evil()
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint(torch.nn.Linear(2, 2), url)
    assert_refused(err, url, server)
    with pytest.raises(UnsafeCheckpointError) as err:
        LesionInferencer(osp.join(repo_root, TINY_CONFIG), url, device='cpu')
    assert_refused(err, url, server)

    local = str(tmp_path / 'tiny.pth')
    save_tiny_checkpoint(repo_root, local, seed=4)
    shutil.copy(local, osp.join(server.root, 'tiny.pth'))
    lesion = osp.join(demo_root, 'invasive_cancer')
    results = [
        LesionInferencer(osp.join(repo_root, TINY_CONFIG), src,
                         device='cpu')(lesion, show_progress=False)
        for src in (server.url('tiny.pth'), local)
    ]
    assert [r['lesion_id'] for r in results[0]] == \
        [r['lesion_id'] for r in results[1]]
    for a, b in zip(*results):
        assert a['pred_scores'] == pytest.approx(b['pred_scores'], abs=1e-6)
    assert server.cached_files() == ['tiny.pth']


@pytest.mark.parametrize('fmt', ['ecdl', 'mae', 'timm', 'mmpretrain'])
def test_model_converters(checkpoint_server, tmp_path, fmt):
    url = checkpoint_server.evil()
    dst = tmp_path / 'out.pth'
    with pytest.raises(UnsafeCheckpointError) as err:
        convert_file(url, str(dst), fmt)
    assert_refused(err, url, checkpoint_server)
    assert not dst.exists()


def test_model_converter_benign_url(checkpoint_server, tmp_path,
                                    mmpretrain_vit):
    url = checkpoint_server.save('vit.pth', to_timm_keys(mmpretrain_vit))
    dst = tmp_path / 'out.pth'
    with pytest.warns(UserWarning, match='cls_token dropped'):
        meta = convert_file(url, str(dst), 'timm')
    assert meta['source'] == 'vit.pth'
    check_logits(dst, mmpretrain_vit)

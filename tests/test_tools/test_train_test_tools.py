# Copyright (c) ecdl_mm contributors. All rights reserved.
"""tools/train.py, tools/test.py, dist_train.sh and mmpretrain's stock tools
on our configs: resume equality under torch>=2.6, a real kill mid-run,
2-process CPU training, early config errors."""
import json
import os.path as osp
import sys

import pytest
import torch

import ecdl_mm  # noqa: F401
from ecdl_mm.utils import safe_load

CFG = 'tests/data/tiny_resnet_demo.py'


def _opts(demo_root, *extra):
    return [
        '--cfg-options', f'train_dataloader.dataset.data_root={demo_root}',
        f'val_dataloader.dataset.data_root={demo_root}',
        f'test_dataloader.dataset.data_root={demo_root}', *extra
    ]


def _weights(path):
    return safe_load(path)['state_dict']


@pytest.fixture(scope='module')
def full_run(run_tool, demo_root, tmp_path_factory):
    """One uninterrupted ``tools/train.py`` run of CFG (3 epochs), shared by
    the resume and test-tool tests."""
    full = tmp_path_factory.mktemp('full')
    run_tool(['tools/train.py', CFG, '--work-dir',
              str(full)] + _opts(demo_root))
    return full


def test_resume_after_kill_equals_uninterrupted(run_tool, run_script,
                                                demo_root, tmp_path, full_run):
    full, killed = full_run, tmp_path / 'killed'

    # Same config, SIGKILLed right after epoch 2 was checkpointed.
    kill_cfg = tmp_path / 'kill_cfg.py'
    kill_cfg.write_text(
        f"_base_ = [{osp.abspath(CFG)!r}]\n"
        "custom_imports = dict(imports=['ecdl_mm', 'kill_hook'])\n"
        "custom_hooks = [dict(type='KillAfterEpochHook', epoch=2)]\n")
    proc = run_tool(
        ['tools/train.py',
         str(kill_cfg), '--work-dir',
         str(killed)] + _opts(demo_root),
        check=False)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert (killed / 'epoch_2.pth').exists()
    assert not (killed / 'epoch_3.pth').exists()

    proc = run_tool(  # as the uninterrupted run: same process set-up
        ['tools/train.py', CFG, '--work-dir',
         str(killed), '--resume'] + _opts(demo_root))
    assert 'resumed epoch: 2' in proc.stdout + proc.stderr
    assert (killed / 'epoch_3.pth').exists()

    ref, res = _weights(full / 'epoch_3.pth'), _weights(killed / 'epoch_3.pth')
    # one call over the dicts: equal keys, every tensor equal, the failing
    # key named
    torch.testing.assert_close(
        res, ref, rtol=0, atol=0, msg=lambda m: f'differs after resume\n{m}')
    # the optimizer state and message hub came back too (they are pickled
    # objects
    # that torch>=2.6 refuses unless allow-listed)
    ckpt = safe_load(str(killed / 'epoch_3.pth'))
    assert ckpt['meta']['epoch'] == 3
    assert 'message_hub' in ckpt and 'optimizer' in ckpt


def test_test_tool_writes_metrics_and_predictions(run_script, demo_root,
                                                  tmp_path, full_run):
    checkpoint = full_run / 'epoch_3.pth'
    out = tmp_path / 'metrics.json'
    proc = run_script([
        'tools/test.py', CFG,
        str(checkpoint), '--work-dir',
        str(tmp_path / 'w'), '--out',
        str(out), '--out-item', 'metrics'
    ] + _opts(demo_root))
    metrics = json.loads(out.read_text())
    assert 'accuracy/top1' in proc.stdout + proc.stderr
    # Independently: the checkpoint's predictions on the test set, made
    # here image by image and scored by scikit-learn.
    assert metrics['accuracy/top1'] == pytest.approx(
        100 * _sklearn_accuracy(checkpoint, demo_root), abs=1e-4)


def _sklearn_accuracy(checkpoint, demo_root):
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmpretrain.apis import get_model
    from mmpretrain.registry import DATASETS
    from sklearn.metrics import accuracy_score
    cfg = Config.fromfile(CFG)
    cfg.test_dataloader.dataset.data_root = demo_root
    model = get_model(cfg, pretrained=str(checkpoint), device='cpu').eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    preds = []
    with torch.no_grad():
        for i in range(len(dataset)):
            (sample, ) = model.test_step(pseudo_collate([dataset[i]]))
            preds.append(int(sample.pred_label))
    labels = [dataset.get_gt_labels()[i] for i in range(len(dataset))]
    assert len(set(labels)) == 3  # the demo's three classes
    return accuracy_score(labels, preds)


# Two processes of batch 8 and one process of batch 16 train on the same
# samples and take the same steps, so they must end with the same weights:
# - DefaultSampler draws one permutation (seed = randomness.seed = 0) and
#   rank r takes its entries r, r + 2, ...; each iteration the two ranks' 8 +
#   8 (the last: 4 + 4) samples are exactly the single process's 16 (8).
# - DDP averages the ranks' gradients of their mean losses; with equal
#   per-rank batches that is the gradient of the mean loss over the union.
# - DDP starts every rank from rank 0's weights, which are the single run's
#   (the same seed builds the same initial model).
# - BatchNorm would break it (its statistics are per process, and torch's
#   SyncBatchNorm is GPU-only), so both runs use GroupNorm, whose output for
#   a sample does not depend on the rest of the batch.
# Only the order of the float sums differs (gloo's all-reduce, the batch
# means), hence the tolerance.
GROUP_NORM = ('model.backbone.norm_cfg.type=GN',
              'model.backbone.norm_cfg.num_groups=4')
#: |2 processes - 1 process| after one epoch (3 SGD steps): 6e-8 measured
#: here (4 Dec 2026); the steps move the stem's GroupNorm by ~2e-3.
DIST_ATOL = 1e-6


def test_two_process_cpu_training(run_tool, run_script, demo_root, tmp_path,
                                  free_port):
    work = tmp_path / 'dist'
    proc = run_tool(
        ['bash', 'tools/dist_train.sh', CFG, '2', '--work-dir',
         str(work)] + _opts(demo_root, 'train_cfg.max_epochs=1', *GROUP_NORM),
        env={
            'PORT': free_port,
            'PYTHON': sys.executable
        })
    log = proc.stdout + proc.stderr
    # the terminal's one-line environment; mmengine's in the log file
    assert '2 process(es), distributed (pytorch, gloo)' in log
    [log_file] = work.glob('*/*.log')
    full = log_file.read_text()
    assert 'Distributed training: True' in full
    assert "dist_cfg: {'backend': 'gloo'}" in full
    # mmengine's 'GPU number' is the world size
    assert ('processes: 2 (CPU only)'
            if not torch.cuda.is_available() else 'GPU number: 2') in full
    assert 'Epoch(val) [1][3/3]    accuracy/top1' in log
    # 40 images, batch 8 per process on 2 ranks -> 3 iterations per epoch
    assert 'Epoch(train) [1][3/3]' in log

    # The same config, seed and total batch in one process (in this
    # process: no second interpreter start).
    single = tmp_path / 'single'
    run_script(
        ['tools/train.py', CFG, '--work-dir',
         str(single)] +
        _opts(demo_root, 'train_cfg.max_epochs=1', 'train_cfg.val_interval=2',
              'train_dataloader.batch_size=16', *GROUP_NORM))
    dist_w = _weights(work / 'epoch_1.pth')
    single_w = _weights(single / 'epoch_1.pth')
    torch.testing.assert_close(
        dist_w,
        single_w,
        rtol=0,
        atol=DIST_ATOL,
        msg=lambda m: f'2 processes != 1 process\n{m}')
    # and the steps did move the weights (GroupNorm starts at weight 1,
    # bias 0; the head's bias at 0), far beyond the tolerance
    for key, init in (('backbone.gn1.bias', 0.), ('backbone.gn1.weight', 1.),
                      ('head.fc.bias', 0.)):
        assert (single_w[key] - init).abs().max() > 100 * DIST_ATOL, key


def test_mmpretrain_stock_train_tool_runs_our_config(run_script, demo_root,
                                                     tmp_path):
    import mmpretrain
    stock = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')
    assert osp.isfile(stock)
    run_script(
        [stock, CFG, '--work-dir', str(tmp_path)] +
        _opts(demo_root, 'train_cfg.max_epochs=1'))
    assert (tmp_path / 'epoch_1.pth').exists()


@pytest.mark.parametrize('option, message', [
    ('model.head.type=LinerClsHead',
     "model.head.type='LinerClsHead' is not registered"),
    ('train_dataloader.dataset.data_root=/nonexistent/ecnbi',
     "train_dataloader.dataset.data_root='/nonexistent/ecnbi' is not a "
     'directory'),
    ('model.head.num_classes=0',
     'model.head.num_classes=0 must be a positive integer'),
])
def test_bad_config_fails_before_training(run_script, demo_root, tmp_path,
                                          option, message):
    # in-process: the config check runs before any runner (or logger)
    proc = run_script(
        ['tools/train.py', CFG, '--work-dir',
         str(tmp_path)] + _opts(demo_root, option),
        check=False)
    # one line, exit 2 (ecdl_mm.utils.cli)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr
    assert not any(p.suffix == '.pth' for p in tmp_path.rglob('*'))

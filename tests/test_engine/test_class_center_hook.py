# Copyright (c) ecdl_mm contributors. All rights reserved.
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import TINY_VIT_ARCH
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS, MODELS
from mmpretrain.structures import DataSample
from PIL import Image

import ecdl_mm  # noqa: F401
from ecdl_mm.engine.hooks import ClassCenterHook
from ecdl_mm.engine.hooks.class_center_hook import class_sums

NUM_CLASSES = 3
CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')


def fake_runner(head, classes=CLASSES):
    model = torch.nn.Module()
    model.head = head
    dataset = SimpleNamespace(metainfo=dict(classes=classes))
    return SimpleNamespace(
        model=model, train_dataloader=SimpleNamespace(dataset=dataset))


def build_head(channels=6):
    return MODELS.build(
        dict(
            type='SupervisedClusteringHead',
            num_classes=NUM_CLASSES,
            in_channels=channels))


def run_epoch(hook, runner, batches):
    """Feed batches through head.loss + the hook as the train loop would."""
    head = runner.model.head
    hook.before_train_epoch(runner)
    for i, (feats, labels) in enumerate(batches):
        head.loss((feats, ),
                  [DataSample().set_gt_label(int(y)) for y in labels])
        hook.after_train_iter(runner, i)
    hook.after_train_epoch(runner)


def make_batches(seed, labels_per_batch, channels=6):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(len(lb), channels, generator=g), torch.tensor(lb))
            for lb in labels_per_batch]


def reference_means(batches, classes):
    """Per-class means with numpy over the concatenated bank."""
    feats = np.concatenate([f.numpy() for f, _ in batches]).astype(np.float64)
    labels = np.concatenate([lb.numpy() for _, lb in batches])
    return {k: feats[labels == k].mean(0) for k in classes}


def test_class_sums_matches_loop():
    from helpers.host_reads import HostReads
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(50, 4, generator=g)
    labels = torch.randint(0, 5, (50, ), generator=g)
    with HostReads() as reads:  # runs every training iteration
        sums, counts = class_sums(feats, labels, 5)
    assert reads.count == 0, reads.ops
    for k in range(5):
        np.testing.assert_allclose(
            sums[k].numpy(),
            feats[labels == k].double().sum(0).numpy(),
            rtol=1e-5,
            atol=1e-5)
        assert counts[k] == (labels == k).sum()


def test_centers_are_per_class_means_of_previous_epoch():
    head = build_head()
    runner = fake_runner(head)
    hook = ClassCenterHook()
    hook.before_train(runner)
    assert not head.centers_valid.any()

    epoch0 = make_batches(0, [[0, 1, 2, 0], [1, 1, 2, 0], [2, 0]])
    run_epoch(hook, runner, epoch0)
    ref = reference_means(epoch0, range(3))
    assert head.centers_valid.all()
    for k in range(3):
        np.testing.assert_allclose(head.centers[k].numpy(), ref[k], rtol=1e-6)

    # The next epoch trains with these centres (non-zero centre loss) and
    # replaces them by its own means (full rebuild).
    epoch1 = make_batches(1, [[2, 2, 1, 0], [0, 1, 1, 2]])
    losses = head.loss(
        (epoch1[0][0], ),
        [DataSample().set_gt_label(int(y)) for y in epoch1[0][1]])
    assert losses['loss_center'] > 0
    run_epoch(hook, runner, epoch1)
    ref = reference_means(epoch1, range(3))
    for k in range(3):
        np.testing.assert_allclose(head.centers[k].numpy(), ref[k], rtol=1e-6)


def test_missing_class_keeps_centre_and_warns():
    head = build_head()
    runner = fake_runner(head)
    hook = ClassCenterHook()
    hook.before_train(runner)
    epoch0 = make_batches(0, [[0, 1, 2, 0], [1, 2]])
    run_epoch(hook, runner, epoch0)
    before = head.centers.clone()

    epoch1 = make_batches(1, [[0, 2, 0], [2, 2]])
    with pytest.warns(UserWarning, match="invasive_cancer"):
        run_epoch(hook, runner, epoch1)
    ref = reference_means(epoch1, [0, 2])
    torch.testing.assert_close(head.centers[1], before[1])
    np.testing.assert_allclose(head.centers[0].numpy(), ref[0], rtol=1e-6)
    np.testing.assert_allclose(head.centers[2].numpy(), ref[2], rtol=1e-6)
    assert head.centers_valid.all()


def test_class_never_seen_stays_invalid():
    head = build_head()
    runner = fake_runner(head, classes=None)
    hook = ClassCenterHook()
    hook.before_train(runner)
    with pytest.warns(UserWarning, match='class 2'):
        run_epoch(hook, runner, make_batches(0, [[0, 1, 1, 0]]))
    assert head.centers_valid.tolist() == [True, True, False]
    # loss still defined with one centre missing
    out = head.loss((torch.randn(3, 6), ),
                    [DataSample().set_gt_label(k) for k in (0, 1, 2)])
    assert torch.isfinite(out['loss_center'])


def test_momentum_update():
    m = 0.9
    head = build_head()
    runner = fake_runner(head)
    hook = HOOKS.build(dict(type='ClassCenterHook', momentum=m))
    hook.before_train(runner)
    epoch0 = make_batches(0, [[0, 1, 2, 0], [1, 2]])
    run_epoch(hook, runner, epoch0)
    ref0 = reference_means(epoch0, range(3))  # first epoch: plain means
    for k in range(3):
        np.testing.assert_allclose(head.centers[k].numpy(), ref0[k], rtol=1e-6)
    epoch1 = make_batches(1, [[0, 1, 2, 2], [1, 0]])
    run_epoch(hook, runner, epoch1)
    ref1 = reference_means(epoch1, range(3))
    for k in range(3):
        np.testing.assert_allclose(
            head.centers[k].numpy(),
            m * ref0[k] + (1 - m) * ref1[k],
            rtol=1e-5)


def test_invalid_config_and_head():
    with pytest.raises(ValueError, match='momentum=1.5'):
        ClassCenterHook(momentum=1.5)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match=f'interval={bad!r}'):
            ClassCenterHook(interval=bad)
    linear = MODELS.build(
        dict(type='LinearClsHead', num_classes=3, in_channels=6))
    with pytest.raises(TypeError, match='LinearClsHead'):
        ClassCenterHook().before_train(fake_runner(linear))


# --------------------------------------------------------------------------
# Resume equality with a real mmengine Runner
# --------------------------------------------------------------------------


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('imgs')
    rng = np.random.RandomState(0)
    for k, name in enumerate(CLASSES):
        (root / name).mkdir()
        for i in range(4):
            # class-dependent colour + noise so the task is learnable
            img = rng.randint(0, 60, (32, 32, 3)).astype(np.uint8)
            img[..., k] += 150
            Image.fromarray(img).save(root / name / f'{i}.png')
    return str(root)


def runner_cfg(data_root, work_dir, max_epochs, resume=None):
    return Config(
        dict(
            default_scope='mmpretrain',
            work_dir=work_dir,
            model=dict(
                type='ImageClassifier',
                data_preprocessor=dict(
                    num_classes=NUM_CLASSES,
                    mean=[127.5] * 3,
                    std=[127.5] * 3,
                    to_rgb=True),
                backbone=dict(
                    type='VisionTransformer',
                    arch=dict(TINY_VIT_ARCH, num_layers=1),
                    img_size=32,
                    patch_size=8,
                    out_type='avg_featmap'),
                head=dict(
                    type='SupervisedClusteringHead',
                    num_classes=NUM_CLASSES,
                    in_channels=32,
                    loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1))),
            train_dataloader=dict(
                batch_size=4,
                num_workers=0,
                dataset=dict(
                    type='CustomDataset',
                    data_root=data_root,
                    classes=CLASSES,
                    pipeline=[
                        dict(type='LoadImageFromFile'),
                        dict(type='PackInputs')
                    ]),
                sampler=dict(type='DefaultSampler', shuffle=True, seed=0)),
            train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
            optim_wrapper=dict(
                optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
            param_scheduler=[
                dict(type='CosineAnnealingLR', T_max=3, by_epoch=True)
            ],
            custom_hooks=[dict(type='ClassCenterHook')],
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=1),
                logger=dict(type='LoggerHook', interval=100)),
            randomness=dict(seed=0),
            env_cfg=dict(dist_cfg=dict(backend='gloo')),
            load_from=resume,
            resume=resume is not None,
            log_level='WARNING'))


def train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner.model


# --------------------------------------------------------------------------
# No silent failure: head and hook need each other
# --------------------------------------------------------------------------


def test_head_without_hook_stops_at_second_step(image_folder, tmp_path):
    cfg = runner_cfg(image_folder, str(tmp_path), 3)
    cfg.custom_hooks = []
    runner = Runner.from_cfg(cfg)
    with pytest.raises(RuntimeError, match='ClassCenterHook is missing'):
        runner.train()
    # it stopped in the first epoch, at the second of its 3 iterations
    assert runner.iter == 1 and runner.epoch == 0
    assert not list(tmp_path.glob('*.pth'))


def test_hook_without_head_stops_before_training(image_folder, tmp_path):
    cfg = runner_cfg(image_folder, str(tmp_path), 3)
    cfg.model.head = dict(
        type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=32)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(
            TypeError,
            match='needs a model whose `head` is a '
            'SupervisedClusteringHead, but got LinearClsHead'):
        runner.train()
    assert runner.iter == 0
    assert not list(tmp_path.glob('*.pth'))


class _RecordHook(Hook):
    """Records the batch features before ClassCenterHook banks them
    (priority ABOVE_NORMAL) or the centres after it updated them
    (BELOW_NORMAL)."""

    def __init__(self, store, what, priority):
        self.store, self.what, self.priority = store, what, priority

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        head = runner.model.head
        if self.what == 'feats':
            self.store.append(
                (head.last_feats.clone(), head.last_labels.clone()))
        else:
            self.store.append(
                (head.centers.clone(), head.centers_valid.clone()))


def test_iter_based_loop_updates_every_interval(image_folder, tmp_path):
    interval, max_iters = 3, 7
    cfg = runner_cfg(image_folder, str(tmp_path), 1)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=100, by_epoch=False)
    cfg.custom_hooks = [dict(type='ClassCenterHook', interval=interval)]
    runner = Runner.from_cfg(cfg)
    feats, centres = [], []
    runner.register_hook(_RecordHook(feats, 'feats', 'ABOVE_NORMAL'))
    runner.register_hook(_RecordHook(centres, 'centres', 'BELOW_NORMAL'))
    runner.train()
    assert len(feats) == len(centres) == max_iters

    # No centre before the end of iteration `interval - 1`; then the means
    # of the features of iterations 0-2, unchanged until iteration 5, where
    # they become the means of iterations 3-5; iteration 6 changes nothing.
    for it in range(interval - 1):
        assert not centres[it][1].any()
    for first in (0, interval):
        last = first + interval - 1
        f = torch.cat([feats[i][0] for i in range(first, last + 1)])
        y = torch.cat([feats[i][1] for i in range(first, last + 1)])
        for k in range(NUM_CLASSES):
            np.testing.assert_allclose(
                centres[last][0][k].numpy(),
                f[y == k].double().mean(0).numpy(),
                rtol=1e-5,
                atol=1e-6)
        assert centres[last][1].all()
        for it in range(last + 1, min(last + interval, max_iters)):
            torch.testing.assert_close(
                centres[it][0], centres[last][0], rtol=0, atol=0)
    assert not torch.equal(centres[2][0], centres[5][0])


def test_default_iter_interval_is_one_pass(image_folder, tmp_path):
    cfg = runner_cfg(image_folder, str(tmp_path), 1)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=4)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=100, by_epoch=False)
    runner = Runner.from_cfg(cfg)
    centres = []
    runner.register_hook(_RecordHook(centres, 'centres', 'BELOW_NORMAL'))
    runner.train()
    # 12 images, batch 4: one pass is 3 iterations
    assert len(runner.train_dataloader) == 3
    assert [bool(c[1].any()) for c in centres] == [False, False, True, True]


def test_resume_equals_uninterrupted_run(image_folder, tmp_path):
    full_dir = str(tmp_path / 'full')
    full = train(runner_cfg(image_folder, full_dir, 3))
    assert full.head.centers_valid.all()

    # A fresh runner resumes the same config from the epoch-2 checkpoint of
    # the uninterrupted run (as after a kill) and trains the third epoch.
    ckpt = osp.join(full_dir, 'epoch_2.pth')
    resumed = train(
        runner_cfg(image_folder, str(tmp_path / 'resumed'), 3, resume=ckpt))

    # The checkpoint carries the centres computed at the end of epoch 2,
    # which differ from the final ones (so the comparison is not trivial).
    from ecdl_mm.utils import safe_load
    state2 = safe_load(ckpt)['state_dict']
    assert state2['head.centers_valid'].all()
    assert not torch.equal(state2['head.centers'], full.head.centers)

    full_state, resumed_state = full.state_dict(), resumed.state_dict()
    assert full_state.keys() == resumed_state.keys()
    for key in full_state:
        torch.testing.assert_close(
            resumed_state[key], full_state[key], rtol=0, atol=0, msg=key)


# --------------------------------------------------------------------------
# Distributed: the bank is summed over ranks
# --------------------------------------------------------------------------

RANK_LABELS = ([[0, 1, 0, 1], [1, 0]], [[2, 2, 0], [1, 2, 2, 2]])


def _dist_worker(rank, world_size, init_file, out_dir):
    import warnings

    import torch.distributed as torch_dist
    torch.set_num_threads(1)
    torch_dist.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=world_size)
    try:
        head = build_head()
        runner = fake_runner(head)
        hook = ClassCenterHook()
        hook.before_train(runner)
        with warnings.catch_warnings():
            # rank 0 never sees class 2: the gathered bank must cover it
            warnings.simplefilter('error')
            run_epoch(hook, runner, make_batches(rank, RANK_LABELS[rank]))
        torch.save(
            dict(centers=head.centers, valid=head.centers_valid),
            osp.join(out_dir, f'{rank}.pth'))
    finally:
        torch_dist.destroy_process_group()


def test_centres_gathered_across_ranks(tmp_path):
    import torch.multiprocessing as mp
    mp.spawn(
        _dist_worker,
        args=(2, str(tmp_path / 'init'), str(tmp_path)),
        nprocs=2)
    batches = make_batches(0, RANK_LABELS[0]) + make_batches(1, RANK_LABELS[1])
    ref = reference_means(batches, range(3))
    for rank in range(2):
        out = torch.load(str(tmp_path / f'{rank}.pth'), weights_only=True)
        assert out['valid'].all()
        for k in range(3):
            np.testing.assert_allclose(
                out['centers'][k].numpy(), ref[k], rtol=1e-6)

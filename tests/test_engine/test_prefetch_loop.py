# Copyright (c) ecdl_mm contributors. All rights reserved.
"""``prefetch`` prepares batch n + 1 in a background thread while batch n is
used; ``DevicePrefetchTrainLoop`` trains on the very batches (and so to the
very weights) ``EpochBasedTrainLoop`` does."""
import threading
import time

import numpy as np
import pytest
import torch

from ecdl_mm.utils.device_prefetch import prefetch


def test_prefetch_is_one_batch_ahead_in_another_thread():
    ready = [threading.Event() for _ in range(4)]
    threads = set()

    def prepare(b):
        threads.add(threading.current_thread().name)
        ready[b].set()
        return b * 10

    got = []
    for n, out in enumerate(prefetch(iter(range(4)), prepare, 'cpu')):
        if n < 3:  # batch n + 1 is prepared while batch n is in use
            assert ready[n + 1].wait(timeout=10), n
        got.append(out)
    assert got == [0, 10, 20, 30]
    assert len(threads) == 1 and threads.pop().startswith('ecdl-prefetch')
    assert list(prefetch(iter([]), prepare, 'cpu')) == []


def test_prefetch_errors_and_timeout_reach_the_caller():

    def broken(b):
        if b == 2:
            raise ValueError('cannot decode training image x.jpg')
        return b

    seen = []
    with pytest.raises(ValueError, match='x.jpg'):
        for out in prefetch(iter(range(5)), broken, 'cpu'):
            seen.append(out)
    assert seen == [0, 1]

    def slow(b):
        time.sleep(0.3)
        return b

    with pytest.raises(TimeoutError, match='batch 0 on cpu took over 0.05 s'):
        list(prefetch(iter(range(2)), slow, 'cpu', timeout=0.05))


@pytest.mark.filterwarnings('ignore:EncodedCropClsDataPreprocessor runs on')
def test_the_gpu_augment_config_trains_as_the_plain_loop(
        repo_root, demo_root, tmp_path):
    """The shipped ``-gpu-augment`` stage-3 config on the demo (its
    pipeline, collate, data preprocessor and ``DevicePrefetchTrainLoop``;
    the demo's model, 64 px): batches of file bytes and records, prepared in
    the prefetch thread, train to the very weights of
    ``EpochBasedTrainLoop``; the clustering head banks its features through
    ``ClassCenterHook`` and the loss falls."""
    from helpers.gpu_data_path import gpu_augment_demo_cfg
    from mmengine.runner import Runner
    weights, prepared_in, runners = {}, set(), {}
    for loop in ('DevicePrefetchTrainLoop', 'EpochBasedTrainLoop'):
        cfg = gpu_augment_demo_cfg(
            repo_root, demo_root, tmp_path / loop, epochs=1)
        if loop == 'DevicePrefetchTrainLoop':
            assert cfg.train_cfg.type == loop  # the config's own
        cfg.train_cfg.type = loop
        runner = runners[loop] = Runner.from_cfg(cfg)
        pre = runner.model.data_preprocessor
        real = pre.prepare_batch

        def spy(data, real=real):
            prepared_in.add((loop, threading.current_thread().name[:13]))
            return real(data)

        pre.prepare_batch = spy
        runner.train()
        weights[loop] = {
            k: v.clone()
            for k, v in runner.model.state_dict().items()
        }
    assert ('DevicePrefetchTrainLoop', 'ecdl-prefetch') in prepared_in
    assert ('EpochBasedTrainLoop', 'MainThread') in prepared_in
    a, b = weights.values()
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)

    runner = runners['DevicePrefetchTrainLoop']
    model = runner.model
    assert type(model.data_preprocessor).__name__ == \
        'EncodedCropClsDataPreprocessor'
    assert bool(model.head.centers_valid.any())  # banked by the hook
    batch = next(iter(runner.train_dataloader))
    assert all(x.dim() == 1 for x in batch['inputs'])  # bytes only
    assert all(len(s.device_augments) == 4 for s in batch['data_samples'])
    losses = []
    for _ in range(10):  # with the centre loss now
        losses.append(
            float(model.train_step(batch, runner.optim_wrapper)['loss']))
        model.head.last_feats = None  # banked (ClassCenterHook's job)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]

    # a data preprocessor that cannot prepare ahead: one clear line
    cfg = gpu_augment_demo_cfg(repo_root, demo_root, tmp_path / 'plain')
    cfg.model.data_preprocessor = dict(type='ClsDataPreprocessor')
    cfg.train_dataloader.collate_fn = dict(type='default_collate')
    with pytest.raises(
            TypeError, match='ClsDataPreprocessor has no '
            r'prepare_batch\(\)'):
        Runner.from_cfg(cfg).train()

# Copyright (c) ecdl_mm contributors. All rights reserved.
import numpy as np
import pytest
from mmpretrain.datasets.transforms import RandomErasing

from ecdl_mm.datasets.transforms import RandomErasingFast


def _shipped():
    """The stage-3 configs' erasing (ecnbi_lesion_224.py), as shipped."""
    from mmengine.config import Config
    cfg = Config.fromfile('configs/_base_/datasets/ecnbi_lesion_224.py')
    kwargs = dict(cfg.ecdl_random_erasing)
    assert kwargs.pop('type') == 'RandomErasingFast'
    return kwargs


CONFIG = _shipped()


def _run(t, img, seed):
    np.random.seed(seed)
    out = t(dict(img=img.copy(), img_shape=img.shape[:2]))['img']
    return out, np.random.random()  # and where the generator was left


@pytest.mark.parametrize('kwargs', [
    CONFIG,
    dict(CONFIG, erase_prob=1.0, fill_std=20.0, fill_color=128),
    dict(CONFIG, erase_prob=1.0, fill_std=None),
    dict(CONFIG, erase_prob=1.0, mode='const'),
])
def test_same_draws_and_pixels_as_mmpretrain(kwargs):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (96, 80, 3), dtype=np.uint8)
    ours, theirs = RandomErasingFast(**kwargs), RandomErasing(**kwargs)
    erased = 0
    for seed in range(60):
        a, next_a = _run(ours, img, seed)
        b, next_b = _run(theirs, img, seed)
        np.testing.assert_array_equal(a, b, err_msg=str(seed))
        assert next_a == next_b
        erased += not np.array_equal(a, img)
    assert erased >= (10 if kwargs['erase_prob'] < 1 else 55)


def test_noise_statistics():
    # the noise is N(mean, std) per channel, truncated to integers and
    # clipped to 0..255 (checked against the moments, not the code)
    t = RandomErasingFast(
        erase_prob=1.0,
        mode='rand',
        fill_color=[100.0, 128.0, 150.0],
        fill_std=[10.0, 20.0, 5.0])
    np.random.seed(1)
    img = np.zeros((200, 200, 3), np.uint8)
    out = t._fill_pixels(img, 0, 0, 200, 200).reshape(-1, 3)
    # int32 truncation lowers the mean by ~0.5
    np.testing.assert_allclose(out.mean(0), [99.5, 127.5, 149.5], atol=0.3)
    np.testing.assert_allclose(out.std(0), [10, 20, 5], rtol=0.03)


def test_negative_std_refused_as_mmpretrain_refuses_it():
    kwargs = dict(CONFIG, erase_prob=1.0, fill_std=[-1.0, 1.0, 1.0])
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError):
        RandomErasing(**kwargs)(dict(img=img.copy(), img_shape=(32, 32)))
    with pytest.raises(ValueError):
        RandomErasingFast(**kwargs)(dict(img=img.copy(), img_shape=(32, 32)))

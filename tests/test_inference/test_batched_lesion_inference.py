# Copyright (c) ecdl_mm contributors. All rights reserved.
"""LesionInferencer with decoding in worker threads and batches across
lesions: the same results as one image at a time, grouped right."""
import os.path as osp

import numpy as np
import pytest
from helpers.images import write_image
from helpers.stream import CONFIG, save_tiny_checkpoint

from ecdl_mm.apis import LesionInferencer, LesionInputError


@pytest.fixture(scope='module')
def setup(repo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('batched')
    ckpt = save_tiny_checkpoint(repo_root, str(tmp / 'tiny.pth'))
    cohort = str(tmp / 'cohort')
    counts = {'adenomas/1': 3, 'adenomas/2': 1, 'non-neoplastic/3': 4}
    seed = 0
    for lesion, n in counts.items():
        for i in range(n):
            write_image(f'{cohort}/{lesion}/Images/{i}.jpg',
                        (60 + 10 * i, 50 + 7 * seed), 'RGB', seed)
            seed += 1
    config = osp.join(repo_root, CONFIG)
    return config, ckpt, cohort, counts


def test_batched_results_equal_batch_one(setup):
    config, ckpt, cohort, counts = setup
    one = LesionInferencer(config, ckpt, device='cpu')
    ref = one(cohort, batch_size=1)
    batched = LesionInferencer(config, ckpt, device='cpu', num_workers=2)
    # batches of 3 cut across the lesions (3, 1 and 4 images)
    got = batched(cohort, batch_size=3)
    assert [r['lesion_id']
            for r in got] == ['cohort/1', 'cohort/2', 'cohort/3']
    assert [r['num_images'] for r in got] == list(counts.values())
    for r, g in zip(ref, got):
        assert r['lesion_id'] == g['lesion_id']
        # every image in its own lesion, in file order
        names = [osp.basename(i['img_path']) for i in g['images']]
        assert names == [f'{i}.jpg' for i in range(g['num_images'])]
        assert all(
            osp.dirname(osp.dirname(i['img_path'])) == g['path']
            for i in g['images'])
        imgs = np.array([i['pred_scores'] for i in g['images']])
        np.testing.assert_allclose(
            imgs, [i['pred_scores'] for i in r['images']], rtol=0, atol=1e-6)
        # the lesion is the mean of its own images (aggregation 'mean')
        np.testing.assert_allclose(
            g['pred_scores'], imgs.mean(0), rtol=0, atol=1e-7)
        assert g['pred_label'] == int(imgs.mean(0).argmax())
    # the device pre-processing (here on the CPU) gives the same calls
    dev = LesionInferencer(config, ckpt, device='cpu', preprocess='device')
    for r, d in zip(ref, dev(cohort, batch_size=4)):
        np.testing.assert_allclose(
            d['pred_scores'], r['pred_scores'], rtol=0, atol=2e-3)


def test_worker_errors_name_the_file(setup, tmp_path):
    config, ckpt, _, _ = setup
    lesion = tmp_path / 'adenomas' / '9' / 'Images'
    write_image(str(lesion / 'a.jpg'), (40, 40), 'RGB', 0)
    (lesion / 'b.jpg').write_bytes(b'not a jpeg')
    inf = LesionInferencer(config, ckpt, device='cpu', num_workers=1)
    with pytest.raises(LesionInputError) as err:
        inf(str(tmp_path), batch_size=2)
    msg = str(err.value)
    assert msg.startswith(f'cannot read image {lesion / "b.jpg"}')
    assert '\n' not in msg
    with pytest.raises(ValueError, match='num_workers=-1'):
        LesionInferencer(config, ckpt, device='cpu', num_workers=-1)

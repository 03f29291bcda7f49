# Copyright (c) ecdl_mm contributors. All rights reserved.
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from ecdl_mm.utils.device_jpeg import decode_jpegs


@pytest.fixture(scope='module')
def blobs(demo_root):
    files = sorted(
        glob.glob(osp.join(demo_root, '*', '*', 'Images', '*.jpg')))[:4]
    return files, [
        torch.frombuffer(bytearray(open(f, 'rb').read()), dtype=torch.uint8)
        for f in files
    ]


def test_batch_and_refused_files(blobs):
    files, data = blobs
    out, errors = decode_jpegs(data + [torch.zeros(50, dtype=torch.uint8)],
                               'cpu')
    assert out[-1] is None and list(errors) == [4]
    for f, img in zip(files, out):
        # libjpeg-turbo, the same library as OpenCV's
        want = cv2.imread(f)[..., ::-1].transpose(2, 0, 1)
        np.testing.assert_array_equal(img.numpy(), want)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_gpu_decode_leaves_memory_of_queued_kernels_alone(blobs):
    """torchvision allocates the decoded images on the caller's stream but
    nvJPEG writes them on its own (pytorch/vision#9606): without the drain
    in ``decode_jpegs`` a block freed while kernels still read it is
    overwritten."""
    _, data = blobs
    ref, _ = decode_jpegs(data, 'cuda')
    bad = 0
    for _ in range(20):
        tmp = [torch.full_like(r, 7) for r in ref]
        torch.cuda.synchronize()
        torch.cuda._sleep(50_000_000)  # queue ~25 ms of work
        sums = [t.sum(dtype=torch.int64) for t in tmp]  # queued reads
        del tmp  # freed while the reads wait
        decode_jpegs(data, 'cuda')  # may be handed those blocks
        bad += sum(int(s) != 7 * r.numel() for s, r in zip(sums, ref))
    assert bad == 0

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
def test_gpu_decode_leaves_memory_of_queued_kernels_alone(
        blobs, repo_root, monkeypatch):
    """torchvision allocates the decoded images on the caller's stream but
    nvJPEG writes them on its own (pytorch/vision#9606): without the drain
    in ``decode_jpegs`` a block freed while kernels still read it is
    overwritten (gpu_probe's check: queued sums of freed blocks)."""
    monkeypatch.syspath_prepend(osp.join(repo_root, 'benchmarks'))
    import gpu_probe
    files, _ = blobs
    assert gpu_probe.decode_race(files)['decode_race_corrupted_decode_jpegs'] \
        == 0


SRC = 'decode_jpegs_cuda, /__w/vision/torchvision/csrc/io/image/cuda/' \
    'decode_jpegs_cuda.cpp:{}, '


@pytest.mark.parametrize('msg', [
    SRC.format(210) + 'cudaEventRecord failed: an illegal memory access '
    'was encountered',
    SRC.format(214) + 'cudaStreamWaitEvent failed: unspecified launch '
    'failure',
    SRC.format(371) + 'Failed to decode batch: 5',
    SRC.format(377) + 'Failed to decode batch: 6',
    SRC.format(120) + 'Failed to initialize nvjpeg with hardware backend: 5',
    'decode_jpegs_cuda: torchvision not compiled with nvJPEG support',
    'Error while decoding JPEG images: Failed to synchronize CUDA stream: 700',
    'CUDA error: an illegal memory access was encountered',
])
def test_device_failures_reach_the_caller(blobs, monkeypatch, msg):
    """A failing device is not a refused file: it is raised, instead of
    every file going to OpenCV (training) or a good file being named
    unreadable (inference)."""
    import torchvision.io as tvio

    def failing(*args, **kwargs):
        raise RuntimeError(msg)

    monkeypatch.setattr(tvio, 'decode_jpeg', failing)
    with pytest.raises(RuntimeError, match='.'):
        decode_jpegs(blobs[1], 'cpu')


@pytest.mark.parametrize('msg', [
    SRC.format(160) + 'Unknown chroma subsampling',
    SRC.format(371) + 'Failed to decode batch: 3',
    SRC.format(371) + 'Failed to decode batch: 10',
    'decode_jpeg, /__w/vision/torchvision/csrc/io/image/cpu/decode_jpeg.cpp'
    ':171, Not a JPEG file: starts with 0x00 0x00',
])
def test_refused_files_are_reported_per_file(blobs, monkeypatch, msg):
    import torchvision.io as tvio

    def refusing(*args, **kwargs):
        raise RuntimeError(msg)

    monkeypatch.setattr(tvio, 'decode_jpeg', refusing)
    out, errors = decode_jpegs(blobs[1][:2], 'cpu')
    assert out == [None, None]
    assert sorted(errors) == [0, 1] and errors[0] == msg
    with pytest.raises(torch.OutOfMemoryError):
        monkeypatch.setattr(
            tvio, 'decode_jpeg', lambda *a, **k:
            (_
             for _ in ()).throw(torch.OutOfMemoryError('CUDA out of memory')))
        decode_jpegs(blobs[1][:2], 'cpu')

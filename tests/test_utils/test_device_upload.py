# Copyright (c) ecdl_mm contributors. All rights reserved.
import numpy as np
import pytest
import torch

from ecdl_mm.utils.device_upload import upload


@pytest.mark.parametrize('data', [[3, 1, 2], [[0.5, 2.0], [1.25, -3.0]],
                                  np.arange(6).reshape(2, 3),
                                  torch.tensor([7, 8])])
def test_values_and_dtype(data):
    got = upload(data, 'cpu', torch.float64)
    want = torch.as_tensor(np.asarray(data), dtype=torch.float64)
    assert got.dtype == torch.float64 and got.device.type == 'cpu'
    torch.testing.assert_close(got, want)
    assert upload(data, 'cpu', torch.long).dtype == torch.long


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_copy_is_asynchronous():
    host = np.arange(1000, dtype=np.float32)
    torch.cuda.synchronize()
    torch.cuda._sleep(int(1e9))  # keep the stream busy for a while
    got = upload(host, 'cuda')
    # the host did not wait for the stream (a blocking .to() would have)
    assert not torch.cuda.current_stream().query()
    host[:] = -1  # the pinned copy owns its own buffer
    torch.testing.assert_close(got.cpu(), torch.arange(1000.))


def test_device_tensors_are_moved_without_pinning():
    """A tensor already on a GPU is moved in stream order (pinning one
    raises on CUDA), and labels already on the device are left there:
    mmengine moves models to 'cuda', tensors live on 'cuda:0', and a batch
    prepared twice (a benchmark's repeated step) must not upload again.
    Fake CUDA tensors (shapes and devices only) stand in for a GPU."""
    from mmpretrain.structures import DataSample
    from torch._subclasses.fake_tensor import FakeTensorMode

    from ecdl_mm.models.data_preprocessors.encoded_crop_preprocessor import (
        _labels_to, _on)
    assert _on(torch.device('cuda', 0), torch.device('cuda'))
    assert _on(torch.device('cuda', 1), torch.device('cuda', 1))
    assert not _on(torch.device('cuda', 1), torch.device('cuda', 0))
    assert not _on(torch.device('cpu'), torch.device('cuda'))
    with FakeTensorMode():
        labels = torch.tensor([1, 2], device='cuda')
        with pytest.raises(Exception):
            labels.pin_memory()  # what upload must not do
        got = upload(labels, 'cuda', torch.float32)
        assert got.device == torch.device('cuda', 0)
        assert got.dtype == torch.float32
        samples = [
            DataSample().set_gt_label(torch.tensor([k], device='cuda'))
            for k in range(3)
        ]
        before = [s.gt_label for s in samples]
        _labels_to(samples, torch.device('cuda'))
        assert all(s.gt_label is b for s, b in zip(samples, before))

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

# Copyright (c) ecdl_mm contributors. All rights reserved.
import pytest
import torch
from helpers.host_reads import HostReads

from ecdl_mm.models.utils import expand_ids, masked_ids, take_tokens


@pytest.mark.parametrize('shape', [(3, 16), (3, 16, 5), (2, 196, 4, 3)])
def test_equal_to_boolean_indexing_without_host_sync(shape):
    g = torch.Generator().manual_seed(0)
    B, N = shape[:2]
    num = N * 3 // 4
    mask = torch.zeros(B, N, dtype=torch.bool)
    for b in range(B):
        mask[b, torch.randperm(N, generator=g)[:num]] = True
    x = torch.randn(*shape, generator=g)
    with HostReads() as reads:
        got = take_tokens(x, masked_ids(mask, num))
    assert reads.count == 0
    want = x[mask].reshape(B, num, *shape[2:])
    assert torch.equal(got, want)
    # and back: scatter along the same ids puts each token where it was
    ids = masked_ids(mask, num)
    back = torch.zeros_like(x).scatter(1, expand_ids(ids, x), got)
    assert torch.equal(back[mask], x[mask])
    assert not back[~mask].any()

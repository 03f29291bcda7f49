# Copyright (c) ecdl_mm contributors. All rights reserved.
import pytest
import torch
from mmcv.cnn.bricks.drop import drop_path as mmcv_drop_path
from torch.profiler import ProfilerActivity, profile

from ecdl_mm.models.utils import DropPath


def test_same_mask_and_values_as_mmcv_on_the_same_seed():
    x = torch.randn(64, 5, 8)
    m = DropPath(0.3).train()
    torch.manual_seed(7)
    ours = m(x)
    torch.manual_seed(7)
    ref = mmcv_drop_path(x, 0.3, True)
    kept = ref.flatten(1).abs().sum(1) > 0
    assert kept.any() and not kept.all()  # the seed drops some, keeps some
    assert torch.equal(ours.flatten(1).abs().sum(1) > 0, kept)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)
    # kept samples are scaled by 1 / keep, dropped ones are zero
    torch.testing.assert_close(ours[kept], x[kept] / 0.7)


def test_gradient_is_the_mask_and_eval_is_identity():
    x = torch.randn(16, 3, requires_grad=True)
    m = DropPath(0.5).train()
    torch.manual_seed(0)
    y = m(x)
    y.sum().backward()
    torch.manual_seed(0)
    mask = (0.5 + torch.rand(16, 1)).floor() / 0.5
    torch.testing.assert_close(x.grad, mask.expand(16, 3))
    assert m.eval()(x) is x
    assert DropPath(0.).train()(x) is x


def test_one_full_size_multiplication_forward_and_backward():
    """mmcv's form costs two full-size kernels each way; this one."""
    x = torch.randn(8, 50, 32, requires_grad=True)
    m = DropPath(0.1).train()

    def full_size_ops(fn):
        with profile(
                activities=[ProfilerActivity.CPU], record_shapes=True) as p:
            fn().sum().backward()
        return sum(1 for e in p.events()
                   if e.name in ('aten::mul', 'aten::div') and e.input_shapes
                   and list(e.input_shapes[0]) == [8, 50, 32])

    ours = full_size_ops(lambda: m(x))
    mmcv = full_size_ops(lambda: mmcv_drop_path(x, 0.1, True))
    assert (ours, mmcv) == (2, 4)


def test_rejects_a_bad_rate():
    with pytest.raises(ValueError, match='drop_prob=1'):
        DropPath(1.0)

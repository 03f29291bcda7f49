# Copyright (c) ecdl_mm contributors. All rights reserved.
"""``ecdl_mm.deploy.load_backend``: every backend against mmpretrain's own
predict path on the same images."""
import sys

import pytest
import torch
from helpers.deploy_models import randomise_qv_bias, tiny_deploy_cfg

from ecdl_mm.deploy import TraceMismatchError, build_model, load_backend


@pytest.fixture(scope='module')
def tiny(demo_root):
    torch.manual_seed(0)
    model, _ = build_model(tiny_deploy_cfg(demo_root), None)
    randomise_qv_bias(model)
    return model


def _normalised(model, n, size=32, seed=0):
    """Raw uint8 BGR images through the model's own data preprocessor, and
    mmpretrain's predicted scores for them."""
    gen = torch.Generator().manual_seed(seed)
    raw = torch.randint(
        0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    with torch.inference_mode():
        data = model.data_preprocessor(dict(inputs=list(raw)))
        scores = torch.stack(
            [s.pred_score for s in model(data['inputs'], mode='predict')])
    return data['inputs'], scores


@pytest.mark.parametrize('backend,atol', [('eager', 1e-6),
                                          ('torchscript', 1e-5),
                                          ('torchscript-int8', 0.05),
                                          ('onnx', 1e-4)])
def test_backend_matches_mmpretrain_predict(tiny, backend, atol):
    if backend == 'onnx':
        pytest.importorskip('onnxruntime')
    example, _ = _normalised(tiny, 2)
    fn = load_backend(tiny, backend, example)
    assert fn.name == backend
    # another batch size and image size than the example traced on
    for n, size in ((5, 32), (1, 48)):
        x, ref = _normalised(tiny, n, size, seed=n)
        probs = fn(x)
        assert probs.shape == (n, 3) and probs.device.type == 'cpu'
        diff = (probs - ref).abs().max().item()
        assert diff <= atol, (backend, n, size, diff)
        if backend == 'torchscript-int8':
            assert diff > 0  # really quantised
    # the caller's model keeps its q/v biases (fusion works on a copy)
    assert any(n.endswith('q_bias') for n, _ in tiny.named_parameters())


def test_onnx_without_onnxruntime_says_so(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # import fails
    example, _ = _normalised(tiny, 2)
    with pytest.raises(
            ImportError, match="backend 'onnx': onnxruntime is not installed"):
        load_backend(tiny, 'onnx', example)


@pytest.mark.parametrize('kwargs,match', [
    (dict(backend='tensorrt'), "backend='tensorrt' must be one of"),
    (dict(backend='torchscript-int8', device='cuda'), 'cpu only'),
    (dict(backend='eager', example_input=torch.zeros(
        3, 32, 32)), r'\(B, 3, H, W\) tensor'),
])
def test_load_backend_rejects(tiny, kwargs, match):
    args = dict(model=tiny, example_input=torch.zeros(1, 3, 32, 32))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        load_backend(**args)


class _Noisy(torch.nn.Module):
    """A backbone whose output changes from run to run."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 3)

    def forward(self, x):
        return (self.fc(x.mean((2, 3))) + 10 * torch.rand(x.shape[0], 3), )


def test_backend_is_checked_against_eager():
    from mmpretrain.registry import MODELS
    MODELS.register_module(name='_BackendNoisy', module=_Noisy, force=True)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='_BackendNoisy'),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=3),
            data_preprocessor=dict(num_classes=3)))
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(
            TraceMismatchError,
            match=r"backend 'torchscript' .* differs from the "
            'eager model'):
        load_backend(model, 'torchscript', x)
    assert not model.training  # load_backend sets eval mode

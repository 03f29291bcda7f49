import math

import pytest
import torch

import ecdl_mm  # noqa: F401
from ecdl_mm.models.losses import ClusterCenterLoss
from mmpretrain.registry import MODELS


def reference_loss(feats, centers, labels, tau, valid=None):
    """The formula of DESIGN.md written per sample with Python floats."""
    feats, centers = feats.tolist(), centers.tolist()
    k_all = range(len(centers))
    if valid is not None:
        k_all = [k for k in k_all if valid[k]]

    def cos(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        return dot / (math.sqrt(sum(x * x for x in a)) *
                      math.sqrt(sum(y * y for y in b)))

    total, n = 0., 0
    for f, y in zip(feats, labels.tolist()):
        if valid is not None and not valid[y]:
            continue
        terms = {k: math.exp((1 - cos(f, centers[k])) / tau) for k in k_all}
        total += terms[y] / sum(terms.values())
        n += 1
    return total / n


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(10, 16, generator=g, dtype=torch.float64)
    centers = torch.randn(3, 16, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 2])
    return feats, centers, labels


@pytest.mark.parametrize('tau', [0.07, 0.5])
def test_value_matches_python_reference(data, tau):
    feats, centers, labels = data
    loss_fn = MODELS.build(dict(type='ClusterCenterLoss', temperature=tau))
    got = loss_fn(feats, centers, labels)
    assert got.item() == pytest.approx(
        reference_loss(feats, centers, labels, tau), rel=1e-10)


def test_loss_weight_and_reductions(data):
    feats, centers, labels = data
    base = ClusterCenterLoss()(feats, centers, labels)
    assert ClusterCenterLoss(loss_weight=2.5)(
        feats, centers, labels).item() == pytest.approx(2.5 * base.item())
    per_sample = ClusterCenterLoss(reduction='none')(feats, centers, labels)
    assert per_sample.shape == (10, )
    assert per_sample.sum().item() == pytest.approx(
        ClusterCenterLoss(reduction='sum')(feats, centers, labels).item())
    assert per_sample.mean().item() == pytest.approx(base.item())


def test_gradient_reaches_features_not_centers(data):
    feats, centers, labels = data
    feats = feats.clone().requires_grad_(True)
    centers = centers.clone().requires_grad_(True)
    ClusterCenterLoss()(feats, centers, labels).backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    # centres are targets computed from the previous epoch: no gradient
    assert centers.grad is None

    # Finite-difference check of one coordinate of the analytic gradient.
    f0 = feats.detach()
    eps = 1e-6
    fp, fm = f0.clone(), f0.clone()
    fp[3, 5] += eps
    fm[3, 5] -= eps
    num = (reference_loss(fp, centers.detach(), labels, 0.07) -
           reference_loss(fm, centers.detach(), labels, 0.07)) / (2 * eps)
    assert feats.grad[3, 5].item() == pytest.approx(num, rel=1e-5, abs=1e-8)


def test_feature_at_own_center_has_smaller_loss():
    centers = torch.eye(3)
    labels = torch.tensor([0])
    near = ClusterCenterLoss()(torch.tensor([[1., 0., 0.]]), centers, labels)
    far = ClusterCenterLoss()(torch.tensor([[0., 1., 0.]]), centers, labels)
    assert near < far


def test_soft_targets(data):
    feats, centers, labels = data
    loss_fn = ClusterCenterLoss(reduction='none')
    one_hot = torch.nn.functional.one_hot(labels, 3).double()
    torch.testing.assert_close(
        loss_fn(feats, centers, one_hot), loss_fn(feats, centers, labels))
    # A mixup-like target is the expectation of the hard losses.
    mix = 0.3 * one_hot + 0.7 * one_hot.roll(1, dims=0)
    expected = 0.3 * loss_fn(feats, centers, labels) + \
        0.7 * loss_fn(feats, centers, labels.roll(1))
    torch.testing.assert_close(loss_fn(feats, centers, mix), expected)


def test_valid_mask(data):
    feats, centers, labels = data
    valid = torch.tensor([True, False, True])
    got = ClusterCenterLoss()(feats, centers, labels, valid=valid)
    assert got.item() == pytest.approx(
        reference_loss(feats, centers, labels, 0.07, valid=[1, 0, 1]),
        rel=1e-10)
    with pytest.raises(ValueError, match='no centre'):
        ClusterCenterLoss()(feats, centers, labels, valid=torch.zeros(
            3, dtype=torch.bool))


def test_invalid_arguments(data):
    feats, centers, labels = data
    with pytest.raises(ValueError, match='temperature=0'):
        ClusterCenterLoss(temperature=0)
    with pytest.raises(ValueError, match="reduction='avg'"):
        ClusterCenterLoss(reduction='avg')
    with pytest.raises(ValueError, match=r'\(10, 16\).*\(3, 8\)'):
        ClusterCenterLoss()(feats, centers[:, :8], labels)

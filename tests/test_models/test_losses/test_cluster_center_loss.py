# Copyright (c) ecdl_mm contributors. All rights reserved.
import math

import pytest
import torch
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401
from ecdl_mm.models.losses import ClusterCenterLoss


def _cos(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (
        math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def reference_per_sample(f, centers, y, tau, form, k_all=None):
    """One sample's loss, written out with Python floats.

    'ecdl': share of exp(+d_y/tau) in sum_k exp(+d_k/tau) (docs/design.md,
    "Supervised deep clustering");
    'proto': -log of the share of exp(-d_y/tau) in sum_k exp(-d_k/tau).
    """
    k_all = range(len(centers)) if k_all is None else k_all
    sign = -1. if form == 'proto' else 1.
    terms = {
        k: math.exp(sign * (1 - _cos(f, centers[k])) / tau)
        for k in k_all
    }
    share = terms[y] / sum(terms.values())
    return -math.log(share) if form == 'proto' else share


def reference_loss(feats, centers, labels, tau, valid=None, form='ecdl'):
    """Mean of :func:`reference_per_sample` over the samples whose class
    centre is valid."""
    feats, centers = feats.tolist(), centers.tolist()
    k_all = [k for k in range(len(centers)) if valid is None or valid[k]]
    total, n = 0., 0
    for f, y in zip(feats, labels.tolist()):
        if y not in k_all:
            continue
        total += reference_per_sample(f, centers, y, tau, form, k_all)
        n += 1
    return total / n


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(10, 16, generator=g, dtype=torch.float64)
    centers = torch.randn(3, 16, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 2])
    return feats, centers, labels


@pytest.mark.parametrize('form', ['proto', 'ecdl'])
@pytest.mark.parametrize('tau', [0.07, 0.5])
def test_value_matches_python_reference(data, tau, form):
    feats, centers, labels = data
    loss_fn = MODELS.build(
        dict(type='ClusterCenterLoss', temperature=tau, form=form))
    got = loss_fn(feats, centers, labels)
    assert got.item() == pytest.approx(
        reference_loss(feats, centers, labels, tau, form=form), rel=1e-10)


def test_default_form_is_ecdl(data):
    feats, centers, labels = data
    assert ClusterCenterLoss().form == 'ecdl'
    assert ClusterCenterLoss()(feats, centers, labels).item() == \
        pytest.approx(reference_loss(feats, centers, labels, 0.07,
                                     form='ecdl'), rel=1e-10)


@pytest.mark.parametrize('form', ['proto', 'ecdl'])
def test_loss_weight_and_reductions(data, form):
    feats, centers, labels = data
    base = ClusterCenterLoss(form=form)(feats, centers, labels)
    assert ClusterCenterLoss(
        loss_weight=2.5,
        form=form)(feats, centers,
                   labels).item() == pytest.approx(2.5 * base.item())
    per_sample = ClusterCenterLoss(
        reduction='none', form=form)(feats, centers, labels)
    assert per_sample.shape == (10, )
    assert per_sample.sum().item() == pytest.approx(
        ClusterCenterLoss(reduction='sum', form=form)(feats, centers,
                                                      labels).item())
    assert per_sample.mean().item() == pytest.approx(base.item())
    # sample weights and avg_factor, against the per-sample losses
    w = torch.linspace(0., 1., 10, dtype=torch.float64)
    got = ClusterCenterLoss(form=form)(
        feats, centers, labels, weight=w, avg_factor=4.)
    assert got.item() == pytest.approx((per_sample * w).sum().item() / 4.)


@pytest.mark.parametrize('form', ['proto', 'ecdl'])
def test_gradient_reaches_features_not_centers(data, form):
    feats, centers, labels = data
    feats = feats.clone().requires_grad_(True)
    centers = centers.clone().requires_grad_(True)
    ClusterCenterLoss(form=form)(feats, centers, labels).backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    # centres are targets computed from the previous epoch: no gradient
    assert centers.grad is None

    # Finite-difference check of one coordinate of the analytic gradient.
    f0 = feats.detach()
    eps = 1e-6
    fp, fm = f0.clone(), f0.clone()
    fp[3, 5] += eps
    fm[3, 5] -= eps
    num = (reference_loss(fp, centers.detach(), labels, 0.07, form=form) -
           reference_loss(fm, centers.detach(), labels, 0.07, form=form)) / (
               2 * eps)
    assert feats.grad[3, 5].item() == pytest.approx(num, rel=1e-5, abs=1e-8)


# Three orthonormal centres in 8-D (the setting of docs/design.md,
# "Supervised deep clustering"), label 0.
CENTERS = torch.eye(3, 8, dtype=torch.float64)


def feature(**coords):
    """A feature in 8-D from its coordinates, e.g. ``feature(e0=1, e3=.5)``.
    """
    f = torch.zeros(8, dtype=torch.float64)
    for name, value in coords.items():
        f[int(name[1:])] = value
    return f


# (a) Between its own centre c0 and the wrong centre c1, nearer c1; the wrong
#     centre c2 is the farthest one (so the own centre is not the farthest).
BETWEEN = feature(e0=0.45, e1=0.55)
# (b) Near the antipode of its own centre (cos(f, c0) = -0.89), leaning a
#     little towards c1 and out of the span of the centres.
ANTIPODE = feature(e0=-1., e1=0.1, e3=0.5)


def loss_and_grad(f, form, tau=0.07):
    f = f.clone().unsqueeze(0).requires_grad_(True)
    loss = ClusterCenterLoss(
        temperature=tau, form=form)(f, CENTERS, torch.tensor([0]))
    grad, = torch.autograd.grad(loss, f)
    return loss.item(), grad[0]


def cos(a, b):
    return _cos(a.tolist(), b.tolist())


@pytest.mark.parametrize(
    'f, pull_bound, push_bound', [
        (BETWEEN, 10., 10.),
        (ANTIPODE, 1., 5.),
    ],
    ids=['between-own-and-wrong', 'near-antipode'])
def test_proto_pulls_to_own_centre_and_pushes_from_others(
        f, pull_bound, push_bound):
    loss, grad = loss_and_grad(f, 'proto')
    assert loss == pytest.approx(
        reference_per_sample(f.tolist(), CENTERS.tolist(), 0, 0.07, 'proto'),
        rel=1e-12)
    c0, c1 = CENTERS[0], CENTERS[1]
    # Moving towards the own centre lowers the loss, clearly (the bounds
    # are 2-5x below the values of these two cases: 19.3 / 1.84 and
    # 15.8 / 8.85)...
    pull = (grad @ (c0 - f)).item()
    assert pull < -pull_bound
    # ... moving towards the nearest wrong centre raises it.
    push = (grad @ (c1 - f)).item()
    assert push > push_bound
    # A small gradient step brings the feature nearer its own centre and
    # farther from the wrong one.
    stepped = f - 1e-3 * grad
    assert cos(stepped, c0) > cos(f, c0) + 1e-4
    assert cos(stepped, c1) < cos(f, c1) - 1e-4


@pytest.mark.parametrize(
    'f, expected_loss, grad_bound', [
        (BETWEEN, None, 1e-2),
        (ANTIPODE, 1., 1e-4),
    ],
    ids=['between-own-and-wrong', 'near-antipode'])
def test_ecdl_form_saturates(f, expected_loss, grad_bound):
    """The release form gives (almost) no gradient in both cases: this is
    why it is not the default. Measured: loss 1.2e-4, |grad| 3.0e-3
    (between); loss 1 - 4e-6, |grad| 4.4e-5 (near the antipode)."""
    loss, grad = loss_and_grad(f, 'ecdl')
    ref = reference_per_sample(f.tolist(), CENTERS.tolist(), 0, 0.07, 'ecdl')
    assert loss == pytest.approx(ref, rel=1e-12)
    if expected_loss is None:
        assert loss < 1e-3  # already 'solved' although nearer c1 than c0
    else:
        assert loss == pytest.approx(expected_loss, abs=1e-5)
    assert grad.norm().item() < grad_bound
    _, proto_grad = loss_and_grad(f, 'proto')
    assert proto_grad.norm().item() > 1000 * grad.norm().item()
    # The little gradient there is still points the right way.
    assert (grad @ (CENTERS[0] - f)).item() < 0


def test_ecdl_form_needs_own_centre_near_the_farthest():
    """'ecdl' does move a feature whose own centre is tied with a wrong
    one for farthest: here the feature sits on the wrong centre c1, at
    distance 1 from both c0 (own) and c2, so the softmax over +d/tau splits
    between them (s_0 = s_2 = 1/2 up to exp(-1/tau))."""
    f = feature(e1=1.)
    loss, grad = loss_and_grad(f, 'ecdl')
    assert loss == pytest.approx(0.5, abs=1e-6)
    assert grad.norm().item() > 1.
    # pulled to c0 by s0 (1 - s0) / tau, pushed from c2 by s0 s2 / tau
    pull = (grad @ (CENTERS[0] - f)).item()
    assert pull == pytest.approx(-0.25 / 0.07, rel=1e-5)
    assert (grad @ (CENTERS[2] - f)).item() == pytest.approx(-pull, rel=1e-5)


@pytest.mark.parametrize('form', ['proto', 'ecdl'])
def test_soft_targets(data, form):
    feats, centers, labels = data
    loss_fn = ClusterCenterLoss(reduction='none', form=form)
    one_hot = torch.nn.functional.one_hot(labels, 3).double()
    torch.testing.assert_close(
        loss_fn(feats, centers, one_hot), loss_fn(feats, centers, labels))
    # A mixup-like target is the expectation of the per-class losses,
    # computed here sample by sample.
    mix = 0.3 * one_hot + 0.7 * one_hot.roll(1, dims=0)
    f, c = feats.tolist(), centers.tolist()
    expected = [
        sum(mix[i, k].item() * reference_per_sample(f[i], c, k, 0.07, form)
            for k in range(3)) for i in range(10)
    ]
    torch.testing.assert_close(
        loss_fn(feats, centers, mix),
        torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize('form', ['proto', 'ecdl'])
def test_valid_mask(data, form):
    feats, centers, labels = data
    valid = torch.tensor([True, False, True])
    feats = feats.clone().requires_grad_(True)
    got = ClusterCenterLoss(form=form)(feats, centers, labels, valid=valid)
    assert got.item() == pytest.approx(
        reference_loss(
            feats.detach(), centers, labels, 0.07, valid=[1, 0, 1], form=form),
        rel=1e-10)
    # the masked centre (inf under 'proto') never turns into nan
    got.backward()
    assert torch.isfinite(feats.grad).all()
    assert feats.grad[labels == 1].abs().sum() == 0  # no valid centre
    with pytest.raises(ValueError, match='no centre'):
        ClusterCenterLoss(form=form)(
            feats, centers, labels, valid=torch.zeros(3, dtype=torch.bool))


def test_invalid_arguments(data):
    feats, centers, labels = data
    with pytest.raises(ValueError, match='temperature=0'):
        ClusterCenterLoss(temperature=0)
    with pytest.raises(ValueError, match="reduction='avg'"):
        ClusterCenterLoss(reduction='avg')
    with pytest.raises(ValueError, match="form='release'"):
        ClusterCenterLoss(form='release')
    with pytest.raises(ValueError, match=r'\(10, 16\).*\(3, 8\)'):
        ClusterCenterLoss()(feats, centers[:, :8], labels)

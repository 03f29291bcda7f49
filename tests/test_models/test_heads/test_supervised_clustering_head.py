# Copyright (c) ecdl_mm contributors. All rights reserved.
import math

import pytest
import torch
from helpers import TINY_VIT_ARCH
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import ecdl_mm  # noqa: F401
from ecdl_mm.models.heads import SupervisedClusteringHead

NUM_CLASSES = 3


def tiny_resnet_classifier(head):
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='ResNet',
                depth=18,
                stem_channels=16,
                base_channels=8,
                out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'),
            head=head))


def tiny_vit_classifier(head):
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='VisionTransformer',
                arch=TINY_VIT_ARCH,
                img_size=32,
                patch_size=8,
                out_type='avg_featmap'),
            head=head))


def head_cfg(in_channels, ce_weight=1.0, **kwargs):
    return dict(
        type='SupervisedClusteringHead',
        num_classes=NUM_CLASSES,
        in_channels=in_channels,
        loss=dict(type='CrossEntropyLoss', loss_weight=ce_weight),
        **kwargs)


def smoothing_head():
    """The head with the shipped CE term (label smoothing 0.1)."""
    return MODELS.build(
        dict(
            type='SupervisedClusteringHead',
            num_classes=NUM_CLASSES,
            in_channels=8,
            loss=dict(
                type='LabelSmoothLoss', label_smooth_val=0.1,
                mode='original')))


def samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


def python_reference(feats, centers, labels, tau=0.07, form='ecdl'):
    """Per-sample Python version of the centre loss: 'proto' is
    -log softmax(-d/tau)_y, 'ecdl' the share of exp(+d_y/tau) in
    sum_k exp(+d_k/tau) (docs/design.md, "Supervised deep clustering"),
    d = 1 - cos."""
    sign = -1. if form == 'proto' else 1.
    out = []
    for f, y in zip(feats.tolist(), labels):
        d = []
        for c in centers.tolist():
            cos = sum(a * b for a, b in zip(f, c)) / (
                math.sqrt(sum(a * a
                              for a in f)) * math.sqrt(sum(b * b for b in c)))
            d.append(math.exp(sign * (1 - cos) / tau))
        share = d[y] / sum(d)
        out.append(-math.log(share) if form == 'proto' else share)
    return sum(out) / len(out)


@pytest.mark.parametrize('form', [None, 'proto'])
@pytest.mark.parametrize('build, channels', [
    (tiny_resnet_classifier, 64),
    (tiny_vit_classifier, 32),
])
def test_center_term_alone_sends_gradient_to_backbone(build, channels, form):
    torch.manual_seed(0)
    # CE switched off: any gradient in the backbone comes from the centres.
    # form None: the loss's default ('ecdl').
    center_loss = dict(type='ClusterCenterLoss')
    if form is not None:
        center_loss['form'] = form
    model = build(head_cfg(channels, ce_weight=0.0, center_loss=center_loss))
    model.train()
    head = model.head
    inputs = torch.randn(6, 3, 32, 32)
    labels = [0, 1, 2, 0, 1, 2]
    head.set_centers(torch.randn(NUM_CLASSES, channels))

    losses = model(inputs, samples(labels), mode='loss')
    assert set(losses) == {'loss', 'loss_center'}
    assert losses['loss'].item() == 0
    feats = model.extract_feat(inputs, stage='pre_logits').detach()
    assert losses['loss_center'].item() == pytest.approx(
        python_reference(feats, head.centers, labels, form=form or 'ecdl'),
        rel=1e-5)

    total = sum(losses.values())
    total.backward()
    grads = [
        p.grad.abs().sum().item() for p in model.backbone.parameters()
        if p.grad is not None
    ]
    assert grads and sum(grads) > 0
    # centres are buffers, never trained
    assert not head.centers.requires_grad


def test_epoch0_is_plain_ce_and_batch_is_kept():
    torch.manual_seed(0)
    head = MODELS.build(head_cfg(8))
    linear = MODELS.build(
        dict(
            type='LinearClsHead',
            num_classes=NUM_CLASSES,
            in_channels=8,
            loss=dict(type='CrossEntropyLoss')))
    linear.fc.load_state_dict(head.fc.state_dict())
    feats = (torch.randn(5, 8), )
    labels = [2, 0, 1, 1, 0]
    losses = head.loss(feats, samples(labels))
    assert losses['loss_center'].item() == 0
    torch.testing.assert_close(losses['loss'],
                               linear.loss(feats, samples(labels))['loss'])
    torch.testing.assert_close(head.last_feats, feats[0])
    assert head.last_labels.tolist() == labels
    assert not head.last_feats.requires_grad


def test_label_smoothing_and_soft_scores():
    torch.manual_seed(0)
    head = smoothing_head()
    head.set_centers(torch.randn(NUM_CLASSES, 8))
    feats = (torch.randn(4, 8), )
    labels = [0, 1, 2, 1]
    hard = head.loss(feats, samples(labels))
    assert hard['loss_center'].item() == pytest.approx(
        python_reference(feats[0], head.centers, labels), rel=1e-5)

    # Mixup-style scores: centre term becomes the expectation, and the
    # arg-max class is banked when no gt_label is present.
    scores = torch.tensor([[.6, .4, 0.], [0., 1., 0.], [0., .2, .8],
                           [0., 1., 0.]])
    soft = [DataSample().set_gt_score(s) for s in scores]
    head.last_feats = None  # banked, as ClassCenterHook does
    out = head.loss(feats, soft)
    per = [
        python_reference(feats[0][i:i + 1], head.centers, [k])
        for i in range(4) for k in range(3)
    ]
    expected = sum(scores.view(-1)[j].item() * per[j] for j in range(12)) / 4
    assert out['loss_center'].item() == pytest.approx(expected, rel=1e-5)
    assert head.last_labels.tolist() == [0, 1, 2, 1]


def test_predict_and_checkpoint_buffers():
    head = MODELS.build(head_cfg(8))
    head.set_centers(
        torch.ones(NUM_CLASSES, 8), torch.tensor([True, False, True]))
    state = head.state_dict()
    assert 'centers' in state and 'centers_valid' in state
    other = MODELS.build(head_cfg(8))
    other.load_state_dict(state)
    torch.testing.assert_close(other.centers, head.centers)
    assert other.centers_valid.tolist() == [True, False, True]

    preds = head.predict((torch.randn(2, 8), ))
    assert len(preds) == 2 and preds[0].pred_score.shape == (NUM_CLASSES, )


def test_invalid_arguments():
    with pytest.raises(ValueError, match='num_classes=0'):
        SupervisedClusteringHead(num_classes=0, in_channels=8)
    with pytest.raises(ValueError, match='in_channels=-1'):
        SupervisedClusteringHead(num_classes=3, in_channels=-1)
    head = SupervisedClusteringHead(num_classes=3, in_channels=8)
    with pytest.raises(ValueError, match=r'\(3, 4\).*\(3, 8\)'):
        head.set_centers(torch.zeros(3, 4))


def test_centre_count_follows_set_centers_and_checkpoint_loads():
    """The head knows on the host how many centres exist (so a training step
    never asks the device); that knowledge follows set_centers and a loaded
    checkpoint: a resumed head uses the centres it loaded."""
    torch.manual_seed(0)
    feats = (torch.randn(6, 8), )
    labels = [0, 1, 2, 0, 1, 2]

    def center_loss(head):
        head.train()
        out = head.loss(feats, samples(labels))['loss_center']
        head.last_feats = None  # banked by ClassCenterHook in a real run
        return out.item()

    trained = MODELS.build(head_cfg(8))
    assert trained.num_valid_centers == 0 and center_loss(trained) == 0
    trained.set_centers(
        torch.randn(NUM_CLASSES, 8), torch.tensor([True, False, True]))
    assert trained.num_valid_centers == 2
    partial = center_loss(trained)
    trained.set_centers(trained.centers)
    assert trained.num_valid_centers == NUM_CLASSES
    full = center_loss(trained)
    assert full == pytest.approx(
        python_reference(feats[0], trained.centers, labels), rel=1e-5)
    assert partial > 0 and partial != pytest.approx(full)

    resumed = MODELS.build(head_cfg(8))
    assert center_loss(resumed) == 0  # no centres yet: count cached as 0
    resumed.load_state_dict(trained.state_dict())
    assert resumed.num_valid_centers == NUM_CLASSES
    assert center_loss(resumed) == pytest.approx(full, rel=1e-6)


def test_label_smoothing_ce_reads_nothing_back_from_the_device():
    """The CE term equals mmpretrain's LabelSmoothLoss on integer labels
    (and a hand-written smoothed CE) without the ``.item()`` label check
    that is a host sync in every training forward on a GPU."""
    from helpers.host_reads import HostReads

    torch.manual_seed(0)
    head = smoothing_head().train()
    feats = (torch.randn(6, 8, requires_grad=True), )
    labels = [0, 1, 2, 2, 1, 0]
    head.num_valid_centers  # read once, as the first step does
    with HostReads() as reads:
        out = head.loss(feats, samples(labels))
        (out['loss'] + out['loss_center']).backward()
    assert reads.count == 0
    logits = head.fc(head.pre_logits(feats))
    ref = MODELS.build(
        dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'))(
            logits, torch.tensor(labels), avg_factor=6)
    smooth = torch.full((6, NUM_CLASSES), 0.1 / NUM_CLASSES)
    smooth[range(6), labels] += 0.9
    by_hand = -(smooth * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(out['loss'], ref)
    torch.testing.assert_close(out['loss'], by_hand)
    head.last_feats = None
    with pytest.raises(RuntimeError, match='index'):
        head.loss(feats, samples([0, 1, 2, 3, 1, 0]))  # no class 3

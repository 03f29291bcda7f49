# Copyright (c) ecdl_mm contributors. All rights reserved.
"""ECMAE: parity with a hand-written EC-DL MAE reference, masks, variants."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401

ENC = dict(embed_dims=48, num_layers=2, num_heads=3, feedforward_channels=96)
DEC_DIMS, DEC_LAYERS, DEC_HEADS = 32, 2, 2
P = 16
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def build_ecmae(criterion='L2', num_masks=1, perceptual=None, img=64):
    model = MODELS.build(
        dict(
            type='ECMAE',
            backbone=dict(type='ECMAEViT', arch=ENC, img_size=img),
            neck=dict(
                type='ECMAEPretrainDecoder',
                embed_dims=48,
                decoder_embed_dims=DEC_DIMS,
                decoder_num_layers=DEC_LAYERS,
                decoder_num_heads=DEC_HEADS),
            head=dict(
                type='ECMAEPretrainHead',
                loss=dict(type='PixelReconstructionLoss', criterion=criterion),
                perceptual_loss=perceptual),
            data_preprocessor=dict(mean=MEAN, std=STD),
            num_masks=num_masks))
    model.init_weights()
    return model


# ----------------------------------------------------------------------------
# Reference of the EC-DL release's MAE on weights named as in its checkpoints
# (encoder.*, encoder_to_decoder, mask_token, decoder.{blocks,norm,head}):
# the encoder runs on the visible tokens only, the bias-free
# encoder_to_decoder projects them, mask tokens fill the masked places, the
# decoder adds its own fixed 1-D sinusoid table and predicts pixels of the
# masked tokens only (facts of the EC-DL paper and public release).
def ref_table(n, d):
    t = np.array([[pos / np.power(10000, 2 * (j // 2) / d) for j in range(d)]
                  for pos in range(n)])
    t[:, 0::2] = np.sin(t[:, 0::2])
    t[:, 1::2] = np.cos(t[:, 1::2])
    return torch.tensor(t, dtype=torch.float32)[None]


def ref_block(sd, p, x, heads):
    B, N, C = x.shape
    h = F.layer_norm(x, (C, ), sd[p + 'norm1.weight'], sd[p + 'norm1.bias'],
                     1e-6)
    b = torch.cat([
        sd[p + 'attn.q_bias'],
        torch.zeros_like(sd[p + 'attn.q_bias']), sd[p + 'attn.v_bias']
    ])
    q, k, v = F.linear(h, sd[p + 'attn.qkv.weight'],
                       b).reshape(B, N, 3, heads,
                                  C // heads).permute(2, 0, 3, 1, 4)
    a = ((q * (C // heads)**-0.5) @ k.transpose(-2, -1)).softmax(-1)
    h = (a @ v).transpose(1, 2).reshape(B, N, C)
    x = x + F.linear(h, sd[p + 'attn.proj.weight'], sd[p + 'attn.proj.bias'])
    h = F.layer_norm(x, (C, ), sd[p + 'norm2.weight'], sd[p + 'norm2.bias'],
                     1e-6)
    h = F.gelu(F.linear(h, sd[p + 'mlp.fc1.weight'], sd[p + 'mlp.fc1.bias']))
    return x + F.linear(h, sd[p + 'mlp.fc2.weight'], sd[p + 'mlp.fc2.bias'])


def ref_mae_loss(sd, imgs01, normalized, mask):
    """Reference MAE forward + norm_pix MSE on masked patches."""
    x = F.conv2d(
        normalized,
        sd['encoder.patch_embed.proj.weight'],
        sd['encoder.patch_embed.proj.bias'],
        stride=P)
    x = x.flatten(2).transpose(1, 2)
    B, N, C = x.shape
    x = x + ref_table(N, C)
    x_vis = x[~mask].reshape(B, -1, C)
    for i in range(ENC['num_layers']):
        x_vis = ref_block(sd, f'encoder.blocks.{i}.', x_vis, ENC['num_heads'])
    x_vis = F.layer_norm(x_vis, (C, ), sd['encoder.norm.weight'],
                         sd['encoder.norm.bias'], 1e-6)
    x_vis = F.linear(x_vis, sd['encoder_to_decoder.weight'])
    D = x_vis.shape[-1]
    pos = ref_table(N, D).expand(B, -1, -1)
    x_full = torch.cat([
        x_vis + pos[~mask].reshape(B, -1, D),
        sd['mask_token'] + pos[mask].reshape(B, -1, D)
    ], 1)
    for i in range(DEC_LAYERS):
        x_full = ref_block(sd, f'decoder.blocks.{i}.', x_full, DEC_HEADS)
    n_mask = int(mask[0].sum())
    out = F.layer_norm(x_full[:, -n_mask:], (D, ), sd['decoder.norm.weight'],
                       sd['decoder.norm.bias'], 1e-6)
    out = F.linear(out, sd['decoder.head.weight'], sd['decoder.head.bias'])
    # target: 'b c (h p1) (w p2) -> b (h w) (p1 p2) c', per-channel stats
    Bc, Cc, H, W = imgs01.shape
    sq = imgs01.reshape(Bc, Cc, H // P, P, W // P,
                        P).permute(0, 2, 4, 3, 5,
                                   1).reshape(Bc, -1, P * P, Cc)
    norm = (sq - sq.mean(dim=-2, keepdim=True)) / (
        sq.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6)
    labels = norm.reshape(Bc, N, -1)[mask].reshape(B, -1, P * P * Cc)
    return F.mse_loss(out, labels)


def release_mae_state_dict(seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*s, scale=0.1):
        return torch.randn(*s, generator=g) * scale

    def block(prefix, C, hidden):
        return {
            prefix + 'norm1.weight': 1 + r(C),
            prefix + 'norm1.bias': r(C),
            prefix + 'attn.q_bias': r(C),
            prefix + 'attn.v_bias': r(C),
            prefix + 'attn.qkv.weight': r(3 * C, C),
            prefix + 'attn.proj.weight': r(C, C),
            prefix + 'attn.proj.bias': r(C),
            prefix + 'norm2.weight': 1 + r(C),
            prefix + 'norm2.bias': r(C),
            prefix + 'mlp.fc1.weight': r(hidden, C),
            prefix + 'mlp.fc1.bias': r(hidden),
            prefix + 'mlp.fc2.weight': r(C, hidden),
            prefix + 'mlp.fc2.bias': r(C),
        }

    C, D = ENC['embed_dims'], DEC_DIMS
    sd = {
        'encoder.patch_embed.proj.weight': r(C, 3, P, P),
        'encoder.patch_embed.proj.bias': r(C),
        'encoder.norm.weight': 1 + r(C),
        'encoder.norm.bias': r(C),
        'encoder_to_decoder.weight': r(D, C),
        'mask_token': r(1, 1, D),
        'decoder.norm.weight': 1 + r(D),
        'decoder.norm.bias': r(D),
        'decoder.head.weight': r(P * P * 3, D),
        'decoder.head.bias': r(P * P * 3),
    }
    for i in range(ENC['num_layers']):
        sd.update(
            block(f'encoder.blocks.{i}.', C, ENC['feedforward_channels']))
    for i in range(DEC_LAYERS):
        sd.update(block(f'decoder.blocks.{i}.', D, 4 * D))
    return sd


def fixed_mask(B, N, n_mask, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(B, N, dtype=torch.bool)
    for b in range(B):
        mask[b, torch.randperm(N, generator=g)[:n_mask]] = True
    return mask


@pytest.mark.parametrize('hw', [(64, 64), (48, 64)])
def test_parity_with_reference_mae(hw):
    from ecdl_mm.models.utils.ckpt_convert import convert_ecdl
    ref_sd = release_mae_state_dict()
    sd, report = convert_ecdl({'model': ref_sd, 'epoch': 3})
    model = build_ecmae()
    missing, unexpected = model.load_state_dict(sd, strict=True)
    assert not missing and not unexpected
    g = torch.Generator().manual_seed(1)
    raw = torch.rand(2, 3, *hw, generator=g) * 255
    normalized = (raw - torch.tensor(MEAN)[:, None, None]
                  ) / torch.tensor(STD)[:, None, None]
    N = (hw[0] // P) * (hw[1] // P)
    mask = fixed_mask(2, N, int(0.75 * N))
    with torch.no_grad():
        ours = model.loss(normalized, None, mask=mask)['loss_rec']
        ref = ref_mae_loss(ref_sd, raw / 255, normalized, mask)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_random_mask_same_count_and_ratio():
    model = build_ecmae()
    latent, mask, ids_restore = model.backbone(torch.randn(3, 3, 64, 64))
    assert mask.dtype == torch.bool and mask.shape == (3, 16)
    assert mask.sum(1).tolist() == [12, 12, 12]
    assert latent.shape == (3, 4, 48)
    assert not torch.equal(mask[0], mask[1]) or not torch.equal(
        mask[1], mask[2])
    # ids_restore puts [visible, masked] back in token order
    order = torch.cat(
        [torch.nonzero(~mask[0]).flatten(),
         torch.nonzero(mask[0]).flatten()])
    assert torch.equal(order[ids_restore[0]], torch.arange(16))


def test_training_forward_reads_nothing_back_from_the_device():
    """A random mask's visible count is known on the host: the training
    forward and backward read no value back (on a GPU each read is a host
    sync mid-step; mmpretrain's MAE has none either)."""
    from helpers.host_reads import HostReads
    from mmpretrain.structures import DataSample
    model = build_ecmae().train()
    imgs = torch.randn(2, 3, 64, 64)
    samples = [DataSample() for _ in range(2)]
    with HostReads() as reads:
        losses = model(imgs, samples, mode='loss')
        sum(losses.values()).backward()
    assert reads.count == 0
    # an explicit mask is checked on the host, as before
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, :12] = True
    with HostReads() as reads:
        model.backbone(imgs, mask=mask)
    assert reads.count > 0


def test_explicit_mask_validation():
    model = build_ecmae()
    x = torch.randn(2, 3, 64, 64)
    bad = torch.zeros(2, 16, dtype=torch.bool)
    bad[0, :4] = True
    bad[1, :5] = True
    with pytest.raises(ValueError, match=r'same number.*\[4, 5\]'):
        model.backbone(x, mask=bad)
    with pytest.raises(ValueError, match=r'mask shape \(2, 15\)'):
        model.backbone(x, mask=torch.zeros(2, 15, dtype=torch.bool))
    with pytest.raises(ValueError, match='hides 0 of 16'):
        model.backbone(x, mask=torch.zeros(2, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match='mask_ratio=1.0'):
        MODELS.build(dict(type='ECMAEViT', arch=ENC, mask_ratio=1.0))
    with pytest.raises(ValueError, match='num_masks=3'):
        MODELS.build(
            dict(
                type='ECMAE',
                backbone=dict(type='ECMAEViT', arch=ENC),
                neck=dict(type='ECMAEPretrainDecoder', embed_dims=48),
                head=dict(type='ECMAEPretrainHead'),
                num_masks=3))


def test_l1_loss_and_target_definition():
    model = build_ecmae(criterion='L1')
    x = torch.randn(2, 3, 64, 64)
    mask = fixed_mask(2, 16, 12)
    with torch.no_grad():
        latent, _, _ = model.backbone(x, mask=mask)
        pred = model.neck(latent, mask)
        loss = model.loss(x, None, mask=mask)['loss_rec']
        imgs01 = model.to_unit_range(x)
    # target by hand for one masked patch: per-channel stats, unbiased std
    b, t = 1, int(torch.nonzero(mask[1])[0])
    r, c = divmod(t, 4)
    patch = imgs01[b, :, r * P:(r + 1) * P, c * P:(c + 1) * P]  # (C, P, P)
    pix = patch.permute(1, 2, 0).reshape(P * P, 3)
    expect = (pix - pix.mean(0)) / (pix.std(0, unbiased=True) + 1e-6)
    tokens = model.head.construct_target(imgs01)
    torch.testing.assert_close(tokens[b, t], expect.reshape(-1))
    torch.testing.assert_close(imgs01,
                               (x * torch.tensor(STD)[:, None, None] +
                                torch.tensor(MEAN)[:, None, None]) / 255)
    target = tokens[mask].reshape(2, 12, -1)
    torch.testing.assert_close(loss, (pred - target).abs().mean())


def test_target_adds_eps_to_std_not_var():
    model = build_ecmae()
    img = torch.full((1, 3, 16, 16), 0.5)
    img[..., ::2, :] += 1e-6  # unbiased std ~1e-6 per channel
    tok = model.head.construct_target(img).reshape(256, 3)
    pix = img[0].permute(1, 2, 0).reshape(256, 3)
    expect = (pix - pix.mean(0)) / (pix.std(0) + 1e-6)  # ~ +-0.5
    torch.testing.assert_close(tok, expect, atol=1e-3, rtol=1e-3)
    assert tok.abs().min() > 0.2  # sqrt(var + 1e-6) would give ~1e-3


def test_reconstruct_with_perfect_prediction_returns_image():
    model = build_ecmae()
    imgs01 = torch.rand(2, 3, 48, 64)
    mask = fixed_mask(2, 12, 9)
    tokens = model.head.construct_target(imgs01)
    perfect = tokens[mask].reshape(2, 9, -1)
    recon = model.head.reconstruct(perfect, imgs01, mask)
    torch.testing.assert_close(recon, imgs01, atol=1e-5, rtol=1e-4)


def test_two_mask_alignment_term():
    model = build_ecmae(num_masks=2)
    x = torch.randn(2, 3, 64, 64)
    mask = fixed_mask(4, 16, 12, seed=3)
    losses = model.loss(x, None, mask=mask)
    assert set(losses) == {'loss_rec', 'loss_align'}
    with torch.no_grad():
        latent, _, _ = model.backbone(torch.cat([x, x]), mask=mask)
    za, zb = latent.mean(1)[:2], latent.mean(1)[2:]
    expect = 1 - (za * zb).sum(-1) / (za.norm(dim=-1) * zb.norm(dim=-1))
    torch.testing.assert_close(losses['loss_align'], expect.mean())
    sum(losses.values()).backward()
    assert model.backbone.layers[0].attn.qkv.weight.grad is not None


def test_lpips_perceptual_term_random_nets():
    pytest.importorskip('lpips')
    model = build_ecmae(
        perceptual=dict(type='LPIPSLoss', net='vgg', pretrained_trunk=False))
    lp = model.head.perceptual_loss
    img = torch.rand(2, 3, 64, 64)
    assert lp(img, img).item() == pytest.approx(0, abs=1e-6)
    assert lp(img, img.flip(-1)).item() > 0
    # frozen and kept out of the checkpoint
    assert not any('perceptual' in k for k in model.state_dict())
    assert all(not p.requires_grad for p in lp.lpips_net.parameters())
    losses = model.loss(torch.randn(2, 3, 64, 64), None)
    assert set(losses) == {'loss_rec', 'loss_perceptual'}
    model.neck.head.weight.grad = None
    losses['loss_perceptual'].backward()
    assert model.neck.head.weight.grad.abs().sum() > 0


def test_encoder_weights_load_into_ecvit(tmp_path):
    model = build_ecmae()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sum(model.loss(torch.randn(2, 3, 64, 64), None).values()).backward()
    opt.step()
    ckpt = tmp_path / 'ecmae.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    clf = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='ECViT',
                arch=ENC,
                img_size=64,
                init_cfg=dict(
                    type='Pretrained',
                    checkpoint=str(ckpt),
                    prefix='backbone.')),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=48)))
    clf.init_weights()
    enc = {k: v for k, v in model.backbone.state_dict().items()}
    dst = clf.backbone.state_dict()
    assert set(enc) - set(dst) == {'ln1.weight', 'ln1.bias'}
    assert set(dst) - set(enc) == {'ln2.weight', 'ln2.bias'}
    for k in set(enc) & set(dst):
        torch.testing.assert_close(dst[k], enc[k])
    # the unmasked encoder forward equals ECViT's token output
    clf.backbone.out_type = 'raw'
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        model.backbone.final_norm = False
        torch.testing.assert_close(
            model.backbone(x, mask=None)[0],
            clf.backbone(x)[0])


def test_predictions_of_every_token_are_refused():
    """The head takes the masked tokens' predictions, found by position
    without reading the mask back: a prediction of every token (another
    decoder) is refused rather than matched against the wrong targets."""
    model = build_ecmae()
    imgs01 = torch.rand(2, 3, 64, 64)
    mask = fixed_mask(2, 16, 12)
    every = torch.randn(2, 16, 8 * 8 * 3)
    with pytest.raises(ValueError, match='masked tokens only'):
        model.head.loss(every, imgs01, mask)
    with pytest.raises(ValueError, match='masked tokens only'):
        model.head.reconstruct(every, imgs01, mask)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""ECMAEPretrainDecoder: masked-token outputs, order, validation."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401


def _small_decoder():
    """A 16 -> 8 wide decoder, 2 layers and heads, patch 2, its weights
    initialised and a random (not zero) mask token; eval mode."""
    dec = MODELS.build(
        dict(
            type='ECMAEPretrainDecoder',
            embed_dims=16,
            decoder_embed_dims=8,
            decoder_num_layers=2,
            decoder_num_heads=2,
            patch_size=2)).eval()
    dec.init_weights()
    with torch.no_grad():
        dec.mask_token.normal_()
    return dec


def test_predicts_masked_tokens_in_token_order():
    dec = MODELS.build(
        dict(
            type='ECMAEPretrainDecoder',
            embed_dims=32,
            decoder_embed_dims=32,
            decoder_num_layers=1,
            decoder_num_heads=2,
            patch_size=4)).eval()
    dec.init_weights()
    assert 'encoder_to_decoder.bias' not in dec.state_dict()
    x = torch.randn(2, 3, 32)
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[0, [1, 4, 5, 7, 0]] = True
    mask[1, [2, 3, 6, 7, 0]] = True
    out = dec(x, mask)
    assert out.shape == (2, 5, 4 * 4 * 3)
    # the output of a masked token depends on its position only through the
    # table: swapping which positions are masked changes the prediction
    mask2 = mask.clone()
    mask2[0] = mask[1]
    assert not torch.allclose(dec(x, mask2)[0], out[0])
    torch.testing.assert_close(dec(x, mask2)[1], out[1])


def test_invalid_sizes():
    with pytest.raises(ValueError, match='decoder_num_layers=0'):
        MODELS.build(dict(type='ECMAEPretrainDecoder', decoder_num_layers=0))


def _sincos(num, dims):
    """The 1-D table written out: sin on column 2i, cos on 2i + 1, angle
    n / 10000 ** (2i / dims)."""
    table = torch.zeros(num, dims, dtype=torch.float64)
    for n in range(num):
        for j in range(dims):
            angle = n / 10000**(2 * (j // 2) / dims)
            table[n, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return table.float()


def test_masked_outputs_equal_a_per_token_reference():
    """Row j of the output is the prediction for the j-th masked position
    in ascending order, computed from visible tokens placed at their own
    positions (a loop over positions, independent of the argsort/gather
    of the module)."""
    torch.manual_seed(0)
    dec = _small_decoder()
    num = 9
    mask = torch.zeros(2, num, dtype=torch.bool)
    mask[0, [8, 0, 3, 5, 6]] = True
    mask[1, [1, 2, 4, 7, 6]] = True
    x = torch.randn(2, 4, 16)
    with torch.no_grad():
        out = dec(x, mask)
        table = _sincos(num, 8)
        for b in range(2):
            visible = [n for n in range(num) if not mask[b, n]]
            masked = [n for n in range(num) if mask[b, n]]
            seq = [
                dec.encoder_to_decoder(x[b, i]) + table[n]
                for i, n in enumerate(visible)
            ]
            seq += [dec.mask_token[0, 0] + table[n] for n in masked]
            seq = torch.stack(seq)[None]
            for blk in dec.blocks:
                seq = blk(seq)
            ref = dec.head(dec.norm(seq[0, len(visible):]))
            torch.testing.assert_close(out[b], ref, rtol=1e-5, atol=1e-6)
            # the order matters: the reversed masked order is another answer
            assert not torch.allclose(out[b], ref.flip(0), atol=1e-4)


def test_equals_the_mae_layout_with_ids_restore():
    """mmpretrain's MAE layout from a known shuffle: the visible tokens in
    shuffle order and the mask tokens after them, put back in token order by
    a gather with ``ids_restore``, the position table added after the
    unshuffle, blocks over the whole sequence in token order; the outputs at
    the masked slots (ascending) equal the decoder's, 1e-6. The visible
    tokens encode their own position, so a token read at the wrong place
    changes the answer."""
    torch.manual_seed(1)
    B, N, C, D = 2, 12, 16, 8
    dec = _small_decoder()
    ids_shuffle = torch.tensor([[5, 0, 11, 7, 2, 9, 1, 3, 4, 6, 8, 10],
                                [3, 10, 6, 1, 0, 2, 4, 5, 7, 8, 9, 11]])
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    num_visible = 4
    # MAE's mask: 0 for the first num_visible of the shuffle, unshuffled
    mask = torch.ones(B, N)
    mask[:, :num_visible] = 0
    mask = torch.gather(mask, 1, ids_restore).bool()
    assert mask[0].nonzero().flatten().tolist() == [1, 2, 3, 4, 6, 8, 9, 10]
    # each token's content is a code of its original position
    codes = torch.randn(N, C)
    keep = ids_shuffle[:, :num_visible]
    x_shuffled = codes[keep]  # (B, num_visible, C) in shuffle order
    x_ascending = codes[keep.sort(dim=1).values]  # the decoder's input
    with torch.no_grad():
        out = dec(x_ascending, mask)
        seq = torch.cat([
            dec.encoder_to_decoder(x_shuffled),
            dec.mask_token.expand(B, N - num_visible, D)
        ], 1)
        seq = torch.gather(seq, 1, ids_restore[..., None].expand(-1, -1, D))
        seq = seq + _sincos(N, D)
        for blk in dec.blocks:
            seq = blk(seq)
        ref = dec.head(dec.norm(seq))[mask].reshape(B, N - num_visible, -1)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    # the visible tokens in shuffle order (as MAE's encoder returns them)
    # are another answer: the decoder reads them as ascending
    with torch.no_grad():
        assert not torch.allclose(dec(x_shuffled, mask), ref, atol=1e-4)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""ECMAEPretrainDecoder: masked-token outputs, order, validation."""
import pytest
import torch
from mmpretrain.registry import MODELS

import ecdl_mm  # noqa: F401


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

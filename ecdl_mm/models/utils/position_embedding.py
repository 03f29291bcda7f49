# Copyright (c) ecdl_mm contributors. All rights reserved.
import math

import torch


def build_1d_sincos_position_embedding(num_tokens: int,
                                       embed_dims: int,
                                       temperature: float = 10000.,
                                       dtype: torch.dtype = torch.float32,
                                       device=None) -> torch.Tensor:
    """The fixed 1-D sinusoid position table of "Attention is all you need".

    Row ``n`` (token index) and column ``j``:
    ``angle = n / temperature ** (2 * (j // 2) / embed_dims)``, then ``sin`` on
    even columns (``2i``) and ``cos`` on odd ones (``2i + 1``). This is the
    table of the EC-DL ViT (not mmpretrain's 2-D table): it is indexed by the
    flattened token index, so any patch grid gets a table of its own length.

    Args:
        num_tokens (int): The number of tokens ``N``.
        embed_dims (int): The embedding dimension ``C``.
        temperature (float): The base of the frequencies. Defaults to 10000.
        dtype (torch.dtype): Output dtype. Defaults to ``torch.float32``.
        device (torch.device, optional): Output device. Defaults to None.

    Returns:
        torch.Tensor: The table, shape ``(1, N, C)``.
    """
    # Under a trace ``num_tokens`` is a traced size: the check would freeze.
    if not torch.jit.is_tracing() and (num_tokens <= 0 or embed_dims <= 0):
        raise ValueError(f'num_tokens={num_tokens} and embed_dims='
                         f'{embed_dims} must be positive integers')
    # float64 keeps the large angles of long sequences exact before the cast.
    position = torch.arange(num_tokens, dtype=torch.float64)[:, None]
    dim_pair = torch.arange(embed_dims, dtype=torch.float64) // 2
    inv_freq = torch.exp(-math.log(temperature) * 2 * dim_pair / embed_dims)
    angle = position * inv_freq[None, :]
    table = torch.empty_like(angle)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table.unsqueeze(0).to(dtype=dtype, device=device)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""CPU thread settings for inference."""
import contextlib

import torch


def set_inference_threads(num_threads: int) -> None:
    """Use ``num_threads`` intra-op threads and a single inter-op thread.

    Inter-op parallelism buys nothing for one network run batch after batch
    and only oversubscribes the cores.

    Args:
        num_threads (int): Intra-op threads, at least 1.
    """
    if not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(
            f'num_threads={num_threads!r} must be a positive integer')
    torch.set_num_threads(num_threads)
    with contextlib.suppress(RuntimeError):  # fixed once work has run
        torch.set_num_interop_threads(1)

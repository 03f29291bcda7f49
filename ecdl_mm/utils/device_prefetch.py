# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Prepare the next batch on the device while the current one trains."""
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Callable, Iterable, Iterator, TypeVar

import torch
from mmengine.structures import BaseDataElement

T = TypeVar('T')
_END = object()


def _tensors(obj):
    """The tensors in a batch: dicts, lists, tuples and mmengine data
    elements (their data fields, e.g. ``gt_label``), recursively."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (dict, BaseDataElement)):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


def prefetch(batches: Iterable[T],
             prepare: Callable[[T], T],
             device,
             timeout: float = 600.) -> Iterator[T]:
    """Yield ``prepare(batch)`` for every batch, one batch ahead.

    While the caller works on batch ``n``, a background thread runs
    ``prepare`` on batch ``n + 1`` (on a CUDA device, on a side stream, so
    its kernels run beside the training step's; the caller's stream waits
    for them before batch ``n + 1`` is used, and its tensors are marked as
    used there for the caching allocator). The host work of launching the
    preparation's many small kernels then overlaps the step instead of
    leaving the GPU idle between steps. Exceptions of ``prepare`` are raised
    in the caller, with the batch's index; a preparation taking over
    ``timeout`` seconds raises ``TimeoutError``.
    """
    device = torch.device(device)
    stream = torch.cuda.Stream(device) if device.type == 'cuda' else None

    def job(batch):
        if stream is None:
            return prepare(batch), None
        with torch.cuda.stream(stream):
            out = prepare(batch)
            done = torch.cuda.Event()
            done.record(stream)
        return out, done

    def collect(pending, index: int):
        try:
            out, done = pending.result(timeout=timeout)
        except FutureTimeout:
            raise TimeoutError(
                f'prefetch: preparing batch {index} on {device} took over '
                f'{timeout:g} s') from None
        if done is not None:
            current = torch.cuda.current_stream(device)
            current.wait_event(done)
            for t in _tensors(out):
                if t.device.type == 'cuda':
                    t.record_stream(current)
        return out

    pool = ThreadPoolExecutor(1, thread_name_prefix='ecdl-prefetch')
    try:
        it = iter(batches)
        first = next(it, _END)
        if first is _END:
            return
        pending = pool.submit(job, first)
        index = 0
        while True:
            out = collect(pending, index)
            following = next(it, _END)
            pending = None if following is _END else pool.submit(
                job, following)
            yield out
            if pending is None:
                return
            index += 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

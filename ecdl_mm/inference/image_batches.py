# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Still images decoded by worker threads, batched across lesions.

:func:`image_batches` runs a loading function (the test pipeline, or only
its loading transform when the rest runs on the device) on every image of
a list of lesions, ``num_workers`` threads decoding ahead while the model
runs (OpenCV's and Pillow's decoders and resizes, and torch's kernels,
release the GIL; threads start in microseconds where worker processes take
a fork and a pickle per run), and yields batches of ``batch_size`` images in
input order (a batch may hold images of several lesions: the caller
re-assembles the results per lesion from each sample's ``lesion_id``).
"""
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, List, Sequence, Tuple

from mmengine.dataset import default_collate


class LesionInputError(ValueError):
    """An input the inferencer cannot use (no image in a folder, an
    unreadable or broken image, a video file, two folders with one lesion
    id); the message names the path."""


class _Failed(str):
    """The message of an image that could not be loaded."""


def _safe_load(load: Callable, lesion: dict, path: str):
    try:
        return load(lesion, path)
    except Exception as e:  # decoders raise many types
        return _Failed(f'cannot read image {path} (lesion '
                       f'{lesion["lesion_id"]}): {type(e).__name__}: '
                       f'{str(e).strip() or "unreadable"}')


def _loaded(items: Sequence[Tuple[dict, str]], load: Callable,
            num_workers: int, ahead: int) -> Iterator:
    """``load`` of every item, in order; ``num_workers`` threads keep up to
    ``ahead`` items decoded in advance (0 workers: in this thread)."""
    if num_workers == 0:
        for lesion, path in items:
            yield _safe_load(load, lesion, path)
        return
    it = iter(items)
    with ThreadPoolExecutor(num_workers, 'ecdl-decode') as pool:
        pending = deque()
        for lesion, path in it:
            pending.append(pool.submit(_safe_load, load, lesion, path))
            if len(pending) >= ahead:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(_safe_load, load, *nxt))
            if isinstance(result, _Failed):
                for f in pending:
                    f.cancel()
            yield result


class LesionImageLoader:
    """``load(lesion, path)`` for :func:`image_batches`: the pipeline on
    ``dict(img_path=path)``, the data sample tagged with ``img_path``,
    ``lesion_id``, ``lesion_path`` and the lesion's ``gt_label``.

    Args:
        pipeline (callable): The test pipeline (ending in ``PackInputs``),
            or only its loading transform (``raw=True``).
        raw (bool): Keep the decoded image (``img``, uint8 HWC) for the
            device pre-processing. Defaults to False.
    """

    def __init__(self, pipeline: Callable, raw: bool = False) -> None:
        self.pipeline, self.raw = pipeline, bool(raw)

    def __call__(self, lesion: dict, path: str) -> dict:
        from mmpretrain.structures import DataSample
        data = self.pipeline(dict(img_path=path))
        if self.raw:
            data = dict(img=data['img'], data_samples=DataSample())
        sample = data.get('data_samples')
        if sample is None:
            sample = data['data_samples'] = DataSample()
        sample.set_metainfo(
            dict(
                img_path=path,
                lesion_id=lesion['lesion_id'],
                lesion_path=lesion['path']))
        if lesion.get('gt_label') is not None:
            sample.set_gt_label(lesion['gt_label'])
        return data


def raw_collate(batch: List[dict]) -> dict:
    """Decoded images kept apart (sizes differ): ``dict(imgs=[...],
    data_samples=[...])``."""
    return dict(
        imgs=[b['img'] for b in batch],
        data_samples=[b['data_samples'] for b in batch])


def image_batches(lesions: Sequence[dict],
                  load: Callable,
                  batch_size: int = 16,
                  num_workers: int = 0,
                  collate: Callable = default_collate) -> Iterator:
    """Batches of loaded images, in lesion then image order.

    Args:
        lesions (Sequence[dict]): Each with ``lesion_id`` and ``images``.
        load (callable): ``load(lesion, path) -> item`` (thread-safe).
        batch_size (int): Images per batch. Defaults to 16.
        num_workers (int): Threads decoding ahead (two batches' worth);
            0 decodes in this thread. Defaults to 0.
        collate (callable): Merges a list of items. Defaults to
            ``default_collate``.

    Yields:
        The collated batches.

    Raises:
        LesionInputError: For an image ``load`` fails on (the message names
            the file and lesion).
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f'batch_size={batch_size!r} must be a positive integer')
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(
            f'num_workers={num_workers!r} must be an integer >= 0')
    items = [(lesion, path) for lesion in lesions for path in lesion['images']]
    batch: List = []
    for item in _loaded(items, load, num_workers, 2 * batch_size):
        if isinstance(item, _Failed):
            raise LesionInputError(str(item))
        batch.append(item)
        if len(batch) == batch_size:
            yield collate(batch)
            batch = []
    if batch:
        yield collate(batch)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Apply the augmentations :class:`~ecdl_mm.datasets.transforms.DeviceAugment`
recorded in the loader workers to a batch on the model's device."""
from collections import defaultdict
from typing import List, Optional, Sequence

import torch

from ...utils.device_upload import upload
from .augment_geometric import GEOMETRIC_OPS, WARPS, warp
from .augment_photometric import PHOTOMETRIC_OPS


def flip(imgs: torch.Tensor, recs: Sequence[dict]) -> torch.Tensor:
    """``mmcv.imflip`` per image: 'horizontal', 'vertical' or 'diagonal'."""
    dims = dict(horizontal=(-1, ), vertical=(-2, ), diagonal=(-2, -1))
    out = imgs.clone()
    by_dir = defaultdict(list)
    for i, rec in enumerate(recs):
        by_dir[rec['direction']].append(i)
    for direction, members in by_dir.items():
        if direction not in dims:
            raise ValueError(f'Flip: unknown direction {direction!r}')
        idx = _index(members, imgs.device)
        out[idx] = imgs[idx].flip(dims[direction])
    return out


#: record type -> ``fn(imgs (N, 3, H, W) float at uint8 levels, BGR,
#: records' keyword arguments) -> the N augmented images``
DEVICE_OPS = dict(PHOTOMETRIC_OPS, **GEOMETRIC_OPS, Flip=flip)


def _index(members: List[int], device: torch.device) -> torch.Tensor:
    return upload(members, device, torch.long)


def apply_device_augments(
        batch: torch.Tensor,
        records: Sequence[Optional[Sequence[Optional[dict]]]]) -> torch.Tensor:
    """Apply each sample's recorded steps, in order, batched by step and op.

    Args:
        batch (Tensor): ``(B, 3, H, W)`` float at uint8 levels, BGR.
        records: per sample, ``DeviceAugment``'s list of records (one per
            step, ``None`` for a step that drew "no"), or ``None`` for a
            sample the loader already augmented on the CPU.

    Returns:
        Tensor: the augmented batch, rounded to uint8 levels after every
        op as the CPU transforms are (a new tensor; ``batch`` itself when no
        sample has records).
    """
    idx = [i for i, r in enumerate(records) if r is not None]
    if not idx:
        return batch
    steps = {len(records[i]) for i in idx}
    if len(steps) != 1:
        raise ValueError(
            'apply_device_augments: the samples recorded different numbers '
            f'of steps ({sorted(steps)}); every sample of a batch must come '
            'from the same DeviceAugment pipeline')
    out = batch.clone()
    for step in range(steps.pop()):
        groups = defaultdict(list)
        for i in idx:
            rec = records[i][step]
            if rec is None:
                continue
            if rec['type'] not in DEVICE_OPS:
                raise ValueError(
                    f'apply_device_augments: no device op '
                    f"{rec['type']!r} (have {sorted(DEVICE_OPS)})")
            # the warps of a step in one pass (one gather per tap)
            groups['warp' if rec['type'] in WARPS else rec['type']].append(i)
        for name, members in groups.items():
            if name == 'warp':
                fn, recs = warp, [records[i][step] for i in members]
            else:
                fn = DEVICE_OPS[name]
                recs = [{
                    k: v
                    for k, v in records[i][step].items() if k != 'type'
                } for i in members]
            if len(members) == len(out):  # the whole batch: no gather
                out = fn(out, recs)
                continue
            sel = _index(members, out.device)
            out[sel] = fn(out[sel], recs)
    return out

# Copyright (c) ecdl_mm contributors. All rights reserved.
import copy
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import torch


def lesion_batches(
        cfg,
        data_root: Optional[str] = None,
        split: Optional[str] = None) -> List[Tuple[str, int, torch.Tensor]]:
    """The config's test set as ``[(lesion_id, label, images (B,3,H,W))]``.

    Images are what the test pipeline gives (BGR 0-255 floats), the images of
    one lesion stacked into one batch.
    """
    from mmpretrain.registry import DATASETS
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    if data_root is not None:
        ds_cfg['data_root'] = data_root
    if split is not None:
        ds_cfg['sheet_name'] = split
    dataset = DATASETS.build(ds_cfg)
    groups = OrderedDict()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        lesion = str(info.get('lesion_id', i))
        item = dataset[i]
        groups.setdefault(lesion, dict(label=int(info['gt_label']), imgs=[]))
        groups[lesion]['imgs'].append(item['inputs'].float())
    return [(k, v['label'], torch.stack(v['imgs'])) for k, v in groups.items()]


def evaluate(variants: Dict[str, Callable], lesions, rounds: int = 3) -> dict:
    """Speed and lesion-level agreement of model variants.

    Args:
        variants (dict): name -> callable on ``(B, 3, H, W)`` images
            returning probabilities; the first is the reference.
        lesions (list): ``(lesion_id, label, images)`` as
            :func:`lesion_batches` gives.
        rounds (int): Timed passes over the set per variant (interleaved).

    Returns:
        dict: Per variant img/s, lesion accuracy, and agreement with the
        reference: ``image_agreement`` / ``lesion_agreement`` are the share
        of images / lesions whose predicted class equals the reference's
        (lesion probability = mean of its images'), ``max_abs_prob_diff``
        the largest ``|probability - reference probability|`` over all
        images.
    """
    n_img = sum(len(x) for _, _, x in lesions)
    probs = {}
    with torch.inference_mode():
        for name, fn in variants.items():
            probs[name] = [torch.as_tensor(fn(x)) for _, _, x in lesions]
        times = {name: [] for name in variants}
        for r in range(rounds):
            order = list(variants.items())
            if r % 2:
                order.reverse()
            for name, fn in order:
                t0 = time.perf_counter()
                for _, _, x in lesions:
                    fn(x)
                times[name].append(time.perf_counter() - t0)
    ref_name = next(iter(variants))
    ref = probs[ref_name]
    labels = torch.tensor([label for _, label, _ in lesions])
    ref_img = torch.cat(ref).argmax(-1)
    ref_lesion = torch.stack([p.mean(0) for p in ref]).argmax(-1)
    results = OrderedDict()
    for name in variants:
        p = probs[name]
        img_pred = torch.cat(p).argmax(-1)
        lesion_pred = torch.stack([q.mean(0) for q in p]).argmax(-1)
        best = min(times[name])
        median = sorted(times[name])[len(times[name]) // 2]
        results[name] = dict(
            img_per_s=n_img / best,
            img_per_s_median=n_img / median,
            lesion_accuracy=float((lesion_pred == labels).float().mean()),
            image_agreement=float((img_pred == ref_img).float().mean()),
            lesion_agreement=float((lesion_pred == ref_lesion).float().mean()),
            max_abs_prob_diff=float(
                (torch.cat(p) - torch.cat(ref)).abs().max()),
        )
    for name in variants:
        results[name]['speedup_vs_' + ref_name] = (
            results[name]['img_per_s'] / results[ref_name]['img_per_s'])
    return dict(
        images=n_img,
        lesions=len(lesions),
        rounds=rounds,
        reference=ref_name,
        variants=results)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The results of :class:`~ecdl_mm.apis.LesionInferencer`: its image
predictions aggregated per lesion (:meth:`LesionInferencer.postprocess`)."""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmpretrain.structures import DataSample

from ..evaluation.functional import aggregate_lesions
from ..evaluation.operating_point import OperatingPoint


def lesion_results(preds: List[DataSample],
                   visualization: Optional[List[np.ndarray]] = None,
                   return_datasamples: bool = False,
                   *,
                   classes: Optional[Sequence[str]],
                   aggregation: str,
                   operating_point: Optional[OperatingPoint] = None) -> list:
    """Aggregate the image predictions per lesion.

    Image scores are calibrated by ``operating_point`` (if any), then
    aggregated with :func:`aggregate_lesions` (``aggregation``). See
    :meth:`ecdl_mm.apis.LesionInferencer.postprocess` for the arguments and
    the results; ``classes`` defaults to ``class_<i>`` names.
    """
    if not preds:
        return []
    scores = np.stack([p.pred_score.float().cpu().numpy() for p in preds])
    op = operating_point
    lesion_ids = [p.lesion_id for p in preds]
    if op is not None:
        _, raw_agg, raw_pred, _ = aggregate_lesions(scores, lesion_ids,
                                                    aggregation)
        scores = op.calibrate(scores)
    ids, agg, pred, inverse = aggregate_lesions(scores, lesion_ids,
                                                aggregation)
    num_images = np.bincount(inverse, minlength=len(ids))
    uncertain = None if op is None else op.is_uncertain(agg, num_images)
    classes = classes or [f'class_{i}' for i in range(agg.shape[1])]
    members = [[] for _ in ids]
    for i, lesion in enumerate(inverse):
        members[lesion].append(i)

    results = []
    for li, lesion_id in enumerate(ids):
        first = preds[members[li][0]]
        label = int(pred[li])
        gt = int(first.gt_label[0]) if 'gt_label' in first else None
        if return_datasamples:
            sample = DataSample().set_pred_score(torch.from_numpy(
                agg[li])).set_pred_label(label)
            if gt is not None:
                sample.set_gt_label(gt)
            meta = dict(
                lesion_id=lesion_id,
                path=first.lesion_path,
                num_images=int(num_images[li]),
                image_samples=[preds[i] for i in members[li]])
            if uncertain is not None:
                meta['uncertain'] = bool(uncertain[li])
            sample.set_metainfo(meta)
            results.append(sample)
            continue
        result = dict(
            lesion_id=lesion_id,
            path=first.lesion_path,
            num_images=int(num_images[li]),
            pred_scores=agg[li],
            pred_label=label,
            pred_score=float(agg[li, label]),
            pred_class=classes[label],
            gt_label=gt,
            gt_class=None if gt is None else classes[gt])
        if uncertain is not None:
            result.update(
                uncertain=bool(uncertain[li]),
                raw_scores=raw_agg[li],
                raw_label=int(raw_pred[li]))
        images = []
        for i in members[li]:
            image = image_result(preds[i].img_path, scores[i], classes)
            if visualization:
                image['visualization'] = visualization[i]
            images.append(image)
        result['images'] = images
        results.append(result)
    return results


def image_result(img_path: str, scores: np.ndarray,
                 classes: Sequence[str]) -> dict:
    """One image's entry of a lesion's ``images``: ``img_path``,
    ``pred_scores``, ``pred_label``, ``pred_score`` and ``pred_class``."""
    label = int(scores.argmax())
    image = dict(
        img_path=img_path,
        pred_scores=scores,
        pred_label=label,
        pred_score=float(scores.max()),
        pred_class=classes[label])
    return image

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Fitting an operating point on validation predictions (pure numpy; the
model is run by :func:`ecdl_mm.apis.predict_views`).

The rules, stated once:

1. **View.** Every candidate view (whole frame resized, centre crops 0.95
   and 0.875, each with and without flip TTA) gets its own temperature
   (step 2) and is scored by the *validation lesion NLL* of its calibrated,
   aggregated probabilities. The lowest NLL wins; a tie (within 1e-9) goes
   to the earlier candidate, the whole frame (the release's view) first.
2. **Temperature.** ``T`` minimises the image-level NLL of
   ``softmax(log p / T)`` (scipy, bounded Brent on ``log T``). Images are
   calibrated first, then aggregated into lesions; the lesion-level ECE and
   NLL before and after are recorded, and ``lesion_nll_improved`` says
   whether the aggregation kept the gain.
3. **Abstention.** For each target, the lowest confidence (calibrated lesion
   top probability) at which the accepted validation lesions meet it; the
   operating point's ``min_confidence`` is the lowest at which they meet
   every target jointly: the largest coverage that does. A target no
   threshold meets leaves ``min_confidence = 1`` (abstain on everything) and
   is listed under ``validation.unmet``.
"""
from collections import OrderedDict
from typing import Dict, Sequence, Tuple

import numpy as np

from . import functional as F
from .operating_point import OperatingPoint

TEMPERATURE_BOUNDS = (0.05, 20.0)
VIEW_CANDIDATES = (
    dict(name='whole', crop_ratio=None, flip=False),
    dict(name='center_crop', crop_ratio=0.95, flip=False),
    dict(name='center_crop', crop_ratio=0.875, flip=False),
    dict(name='whole', crop_ratio=None, flip=True),
    dict(name='center_crop', crop_ratio=0.95, flip=True),
    dict(name='center_crop', crop_ratio=0.875, flip=True),
)


def view_key(view: dict) -> str:
    """``'whole'``, ``'center_crop_0.875'``, ``'whole+flip'``, ..."""
    key = view['name']
    if view['name'] == 'center_crop':
        key += f"_{view['crop_ratio']:g}"
    return key + ('+flip' if view.get('flip') else '')


def _lesion_nll(probs, lesion_ids, l_target, aggregation):
    _, agg, _, _ = F.aggregate_lesions(probs, lesion_ids, aggregation)
    return F.calibration_metrics(agg, l_target)['nll']


def lesion_targets(target: np.ndarray,
                   lesion_ids: Sequence[str]) -> Tuple[list, np.ndarray]:
    """Lesion ids (first-appearance order) and one label per lesion."""
    ids, _, _, inverse = F.aggregate_lesions(
        np.zeros((len(target), 1)) + 1, lesion_ids)
    l_target = np.full(len(ids), -1)
    l_target[inverse] = target
    return ids, l_target


def fit_operating_point(view_probs: Dict[str, Tuple[dict, np.ndarray]],
                        target: np.ndarray,
                        lesion_ids: Sequence[str],
                        classes: Sequence[str],
                        targets: Sequence[str] = (),
                        aggregation: str = 'mean',
                        min_images: int = 1,
                        ci_level: float = 0.95) -> OperatingPoint:
    """Choose the view, fit the temperature and the abstention threshold.

    Args:
        view_probs (dict): View key -> ``(view dict, image probabilities
            (N, C))``, all on the same validation images in the same order,
            in candidate order (ties go to the first).
        target (np.ndarray): Image labels ``(N, )``.
        lesion_ids (Sequence[str]): Lesion of every image.
        classes (Sequence[str]): Class names.
        targets (Sequence[str]): Abstention targets
            (:func:`ecdl_mm.evaluation.functional.parse_target`).
        aggregation (str): Lesion aggregation. Defaults to 'mean'.
        min_images (int): Stored in the operating point. Defaults to 1.
        ci_level (float): Interval level of the validation figures.

    Returns:
        OperatingPoint: With ``validation`` holding the view table, the
        calibration before / after, the thresholds and the selective
        figures with Wilson intervals.
    """
    if not view_probs:
        raise ValueError('fit_operating_point needs at least one view')
    target = np.asarray(target, np.int64)
    parsed = [F.parse_target(t, classes) for t in targets]
    _, l_target = lesion_targets(target, lesion_ids)

    views = []
    for key, (view, probs) in view_probs.items():
        temp = F.fit_temperature(probs, target, TEMPERATURE_BOUNDS)
        cal = F.temperature_scale(probs, temp)
        views.append(
            OrderedDict(
                key=key,
                view=dict(view),
                temperature=temp,
                lesion_nll_raw=_lesion_nll(probs, lesion_ids, l_target,
                                           aggregation),
                lesion_nll=_lesion_nll(cal, lesion_ids, l_target,
                                       aggregation)))
    best = min(
        range(len(views)), key=lambda i: (round(views[i]['lesion_nll'], 9), i))
    chosen = views[best]
    probs = view_probs[chosen['key']][1]
    temp = chosen['temperature']
    cal = F.temperature_scale(probs, temp)

    _, l_raw, _, _ = F.aggregate_lesions(probs, lesion_ids, aggregation)
    ids, l_cal, l_pred, inverse = F.aggregate_lesions(cal, lesion_ids,
                                                      aggregation)
    conf = l_cal.max(1)
    n_images = np.bincount(inverse, minlength=len(ids))
    thresholds = OrderedDict()
    for text, spec in zip(targets, parsed):
        thresholds[text] = F.abstention_threshold(conf, l_pred, l_target,
                                                  [spec])
    joint = F.abstention_threshold(conf, l_pred, l_target, parsed) \
        if parsed else 0.0
    unmet = [t for t, v in thresholds.items() if v is None]
    if joint is None:
        unmet = unmet or list(targets)
    min_conf = 1.0 if joint is None else float(joint)

    op = OperatingPoint(
        classes=list(classes),
        temperature=float(temp),
        min_confidence=min_conf,
        min_images=int(min_images),
        view=dict(chosen['view']),
        thresholds=dict(thresholds),
        targets=list(targets))
    accepted = ~op.is_uncertain(l_cal, n_images)
    sel = F.selective_rates(l_pred, l_target, accepted, classes, ci_level)
    for text, (kind, k, val) in zip(targets, parsed):
        s, n = F.target_fraction(kind, k, l_pred[accepted], l_target[accepted])
        lo, hi = F.proportion_interval(s, n, ci_level)
        sel[f'target {text}'] = dict(
            value=float(F.safe_div(s, n)), k=s, n=n, ci_lower=lo, ci_upper=hi)
    image_raw = F.calibration_metrics(probs, target)
    image_cal = F.calibration_metrics(cal, target)
    lesion_raw = F.calibration_metrics(l_raw, l_target)
    lesion_cal = F.calibration_metrics(l_cal, l_target)
    op.validation = OrderedDict(
        num_images=int(len(target)),
        num_lesions=int(len(ids)),
        aggregation=aggregation,
        ci_level=ci_level,
        rules=dict(
            view='lowest validation lesion NLL after temperature scaling '
            '(ties: earlier candidate, whole frame first)',
            temperature='minimises the image-level NLL (scipy bounded '
            'Brent on log T); images calibrated, then aggregated',
            threshold='lowest calibrated lesion confidence at which the '
            'accepted validation lesions meet every target (largest '
            'coverage)'),
        views=views,
        chosen_view=chosen['key'],
        calibration=dict(
            image_raw=image_raw,
            image_calibrated=image_cal,
            lesion_raw=lesion_raw,
            lesion_calibrated=lesion_cal),
        lesion_nll_improved=bool(lesion_cal['nll'] <= lesion_raw['nll']),
        # at a bound of the search the fit is not a minimum (e.g. a model
        # whose probabilities carry no information: T -> infinity)
        temperature_at_bound=bool(not TEMPERATURE_BOUNDS[0] * 1.001 < temp <
                                  TEMPERATURE_BOUNDS[1] / 1.001),
        selective=sel,
        unmet=unmet)
    return op

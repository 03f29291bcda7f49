# Copyright (c) ecdl_mm contributors. All rights reserved.
import os.path as osp
import warnings
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmpretrain.registry import METRICS

from ...utils.work_dir import resolve_path
from .. import functional as F
# AGGREGATIONS, RATES and weighted_auc keep their old import path (__all__)
from ..functional import AGGREGATIONS, RATES, weighted_auc
from .lesion_decisions import add_decisions, operating_point_metrics
from .lesion_intervals import (add_bootstrap_intervals,
                               add_proportion_intervals, image_cases,
                               insert_intervals, macro_interval)
# the key names keep their old import path: CALIBRATION, INTERVALS, ...
from .lesion_keys import *  # noqa: F401,F403
from .lesion_keys import PER_CLASS
from .lesion_table_text import lesion_table

__all__ = ['LesionMetric', 'AGGREGATIONS', 'RATES', 'weighted_auc']


def _rates(cm: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class rates of confusion matrices (kept for old imports; see
    :func:`ecdl_mm.evaluation.functional.confusion_rates`)."""
    return F.confusion_rates(cm)


@METRICS.register_module()
class LesionMetric(BaseMetric):
    """Image- and lesion-level metrics with confidence intervals, counts,
    calibration and (with an operating point) selective metrics.

    Image predictions are grouped by the ``lesion_id`` found in each data
    sample's metainfo (see :class:`ecdl_mm.datasets.ECNBIDataset` for the
    ``PackInputs(meta_keys=...)`` that puts it there; its ids are
    ``'<cohort>/<lesion_index>'``, distinct across concatenated cohorts) and
    aggregated per lesion. A lesion whose images disagree on the label is an
    error; one whose images come from several folders gets a warning (two
    lesions merged under one id). Both levels report accuracy; per-class
    sensitivity, specificity, PPV, NPV, F1 and one-vs-rest ROC AUC with
    their macro means; micro one-vs-rest AUC; the calibration of the
    probabilities (``ece``: top-label ECE over 15 equal-width bins,
    ``ece_classwise``, ``brier``, ``nll``); and the confusion matrix. Keys
    are prefixed ``image/`` and ``lesion/`` (``lesion/accuracy``,
    ``lesion/sensitivity_adenomas``, ``lesion/auc_macro``, ...), so a
    checkpoint hook can select on ``lesion/accuracy``. Every number comes
    from :mod:`ecdl_mm.evaluation.functional`.

    Intervals (``<key>_ci_lower`` / ``<key>_ci_upper``): accuracy and the
    per-class sensitivity, specificity, PPV and NPV are proportions; at
    lesion level they get Wilson score intervals, at image level a
    cluster-adjusted Wilson interval (images of one lesion are correlated;
    :func:`~ecdl_mm.evaluation.functional.clustered_proportion_interval`).
    Neither collapses to zero width at 0 or 1. Their counts ``k/n`` go to
    the log table and ``metrics.json`` (``counts``). With
    ``bootstrap_rounds > 0`` the AUCs, F1 and the macro means get
    percentile intervals over bootstrap samples of lesions (a lesion is
    drawn with all its images); rounds where a value is undefined are left
    out.

    Counting convention (:mod:`~ecdl_mm.evaluation.functional`): a rate
    whose denominator is zero is undefined (NaN); macro means average the
    defined classes.

    Args:
        aggregation (str): How image scores become a lesion score:
            ``'mean'`` of the softmax probabilities; ``'vote'``, the share of
            images predicting each class (ties broken by mean probability);
            ``'max'``, the per-class maximum probability, renormalised to sum
            to 1. Defaults to 'mean'.
        bootstrap_rounds (int): Bootstrap resamples of lesions for the
            intervals of AUCs, F1 and macro means; 0 disables them.
            Defaults to 1000.
        ci_level (float): Confidence level of the intervals.
            Defaults to 0.95.
        seed (int): Seed of the bootstrap. Defaults to 0.
        out_dir (str, optional): When set, writes ``image_predictions.csv``,
            ``lesion_predictions.csv``, ``metrics.json`` and the figures
            (``confusion_matrix_{image,lesion}.png``,
            ``roc_{image,lesion}.png``, ``reliability_{image,lesion}.png``,
            with an operating point ``risk_coverage.png``) there
            (overwritten at every evaluation; ``{work_dir}`` = the run's; see
            :mod:`.lesion_outputs`). The lesion table has the lesion
            metadata columns of the split sheet when the data samples carry
            ``lesion_meta`` (:class:`~ecdl_mm.datasets.ECNBIDataset`), and
            a log line names the analyses that absent columns rule out.
            Defaults to None.
        classes (Sequence[str], optional): Class names; defaults to the
            dataset's ``classes`` (``dataset_meta``), else ``class_<i>``.
        operating_point (str, optional): An operating-point JSON
            (:class:`~ecdl_mm.evaluation.operating_point.OperatingPoint`):
            adds the calibrated figures (``{level}/calibrated/...``), the
            selective lesion metrics among confident lesions
            (``selective/...``: coverage, accuracy, per-class rates, AURC)
            and ``uncertain`` / calibrated columns in the lesion CSV.
            Defaults to None.
        actions (dict, optional): Class name to clinical action for the
            decision table (``metrics.json`` ``decisions``); defaults to
            :data:`ecdl_mm.evaluation.clinical.decisions.DEFAULT_ACTIONS`
            when the classes are the EC-DL ones, else no table.
        npv_target (float): NPV target of the "leave in situ" calls (all
            lesions; PIVI proper: ``tools/analysis/subgroups.py``).
            Defaults to 0.90.
        collect_device (str): Device for collecting results across ranks,
            'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Extra prefix before ``image/`` and
            ``lesion/``. Defaults to None.
    """
    # '' (not None): keys are already 'image/...' and 'lesion/...'
    default_prefix: Optional[str] = ''

    def __init__(self,
                 aggregation: str = 'mean',
                 bootstrap_rounds: int = 1000,
                 ci_level: float = 0.95,
                 seed: int = 0,
                 out_dir: Optional[str] = None,
                 classes: Optional[Sequence[str]] = None,
                 operating_point: Optional[str] = None,
                 actions: Optional[Dict[str, str]] = None,
                 npv_target: float = 0.90,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if aggregation not in AGGREGATIONS:
            raise ValueError(f'aggregation={aggregation!r} must be one of '
                             f'{AGGREGATIONS}')
        if not isinstance(bootstrap_rounds, int) or bootstrap_rounds < 0:
            raise ValueError(f'bootstrap_rounds={bootstrap_rounds!r} must be '
                             'a non-negative integer')
        if not 0 < ci_level < 1:
            raise ValueError(f'ci_level={ci_level!r} must be in (0, 1)')
        if not 0 < npv_target <= 1:
            raise ValueError(f'npv_target={npv_target!r} must be in (0, 1]')
        self.aggregation = aggregation
        self.bootstrap_rounds = bootstrap_rounds
        self.ci_level = ci_level
        self.seed = seed
        self.out_dir = out_dir
        self.classes = tuple(classes) if classes is not None else None
        self.operating_point = None
        if operating_point is not None:
            from ..operating_point import OperatingPoint
            self.operating_point = OperatingPoint.load(operating_point)
        self.actions = dict(actions) if actions else None
        self.npv_target = npv_target

    # ------------------------------------------------------------------ #
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store score, label and ids of every sample of a batch."""
        for sample in data_samples:
            if 'lesion_id' not in sample:
                raise ValueError(
                    'LesionMetric needs `lesion_id` in the data samples\' '
                    'metainfo; add it to the pipeline: dict(type='
                    '\'PackInputs\', meta_keys=(..., \'lesion_id\', '
                    '\'patient_id\')) (img_path: '
                    f'{sample.get("img_path")!r})')
            if 'pred_score' in sample:
                score = sample['pred_score'].detach().cpu().float().numpy()
            else:
                label = int(sample['pred_label'])
                num = len(self.classes or self.dataset_meta.get('classes'))
                score = np.eye(num, dtype=np.float32)[label]
            self.results.append(
                dict(
                    score=score,
                    gt_label=int(sample['gt_label']),
                    lesion_id=str(sample['lesion_id']),
                    patient_id=sample.get('patient_id'),
                    img_path=sample.get('img_path'),
                    lesion_meta=sample.get('lesion_meta')))

    # ------------------------------------------------------------------ #
    @staticmethod
    def aggregate(
        scores: np.ndarray,
        lesion_ids: Sequence[str],
        method: str = 'mean'
    ) -> Tuple[List[str], np.ndarray, np.ndarray, np.ndarray]:
        """Aggregate image scores into lesion scores
        (:func:`ecdl_mm.evaluation.functional.aggregate_lesions`).

        Returns:
            tuple: ``(ids, lesion_scores (L, C), lesion_pred (L, ),
            image_to_lesion (N, ))``; lesions in order of first appearance.
        """
        return F.aggregate_lesions(scores, lesion_ids, method)

    @staticmethod
    def calculate(scores: np.ndarray, pred: np.ndarray, target: np.ndarray,
                  classes: Sequence[str]) -> 'OrderedDict[str, object]':
        """Point estimates of every metric of one level.

        Args:
            scores (np.ndarray): Class scores ``(N, C)`` for the AUCs.
            pred (np.ndarray): Predicted labels ``(N, )``.
            target (np.ndarray): True labels ``(N, )``.
            classes (Sequence[str]): The ``C`` class names.

        Returns:
            OrderedDict: Metric name (without level prefix) to value; the
            confusion matrix under ``confusion_matrix`` as an int array.
        """
        num_c = len(classes)
        cm = F.confusion_matrix(pred, target, num_c).astype(np.int64)
        rates = F.confusion_rates(cm)
        rates['auc'] = F.one_vs_rest_auc(scores, target, num_c)
        out = OrderedDict(accuracy=float(rates['accuracy']))
        for name in PER_CLASS:
            for k, cls in enumerate(classes):
                out[f'{name}_{cls}'] = float(rates[name][k])
            out[f'{name}_macro'] = float(F.nanmean_or_nan(rates[name]))
        out['auc_micro'] = F.micro_auc(scores, target, num_c)
        if scores.shape[1] == num_c and np.allclose(
                np.asarray(scores).sum(1), 1, atol=1e-4):
            out.update(F.calibration_metrics(scores, target))
        out['confusion_matrix'] = cm
        return out

    @staticmethod
    def bootstrap_stats(scores: np.ndarray, pred: np.ndarray,
                        target: np.ndarray,
                        weights: np.ndarray) -> Dict[str, np.ndarray]:
        """Every rate of :meth:`calculate` under many sample weightings.

        Args:
            scores (np.ndarray): ``(N, C)``.
            pred (np.ndarray): ``(N, )``.
            target (np.ndarray): ``(N, )``.
            weights (np.ndarray): ``(R, N)``, e.g. bootstrap multiplicities.

        Returns:
            dict: ``accuracy`` and ``auc_micro`` of shape ``(R, )``; per-class
            ``sensitivity``, ``specificity``, ``ppv``, ``npv``, ``f1`` and
            ``auc`` of shape ``(R, C)``.
        """
        num_c = scores.shape[1]
        rates = F.confusion_rates(
            F.confusion_matrix(pred, target, num_c, weights))
        rates['auc'] = F.one_vs_rest_auc(scores, target, num_c, weights)
        rates['auc_micro'] = F.micro_auc(scores, target, num_c, weights)
        return rates

    # ------------------------------------------------------------------ #
    def _class_names(self, num_c: int) -> Tuple[str, ...]:
        classes = self.classes or (self.dataset_meta or {}).get('classes')
        if classes is None:
            return tuple(f'class_{i}' for i in range(num_c))
        if len(classes) != num_c:
            raise ValueError(f'{len(classes)} class names {tuple(classes)} '
                             f'but the predictions have {num_c} scores')
        return tuple(classes)

    def compute_metrics(self, results: List[dict]) -> Dict[str, object]:
        """Compute both levels, the intervals, and write the outputs."""
        if not results:
            raise ValueError('LesionMetric got no results to evaluate')
        scores = np.stack([r['score'] for r in results]).astype(np.float64)
        target = np.array([r['gt_label'] for r in results], dtype=np.int64)
        lesion_ids = [r['lesion_id'] for r in results]
        classes = self._class_names(scores.shape[1])

        ids, l_scores, l_pred, inverse = self.aggregate(
            scores, lesion_ids, self.aggregation)
        l_target = np.full(len(ids), -1, dtype=np.int64)
        for i, (lesion, label) in enumerate(zip(inverse, target)):
            if l_target[lesion] not in (-1, label):
                raise ValueError(
                    f'lesion {ids[lesion]!r} has images with different '
                    f'ground-truth labels ({classes[l_target[lesion]]} and '
                    f'{classes[label]}), e.g. {results[i]["img_path"]}')
            l_target[lesion] = label
        self._warn_split_lesions(results, ids, inverse)
        i_pred = scores.argmax(1)

        levels = dict(
            image=(scores, i_pred, target),
            lesion=(l_scores, l_pred, l_target))
        metrics = OrderedDict()
        cms = {}
        for level, (s, p, t) in levels.items():
            values = self.calculate(s, p, t, classes)
            cms[level] = values.pop('confusion_matrix')
            for key, val in values.items():
                metrics[f'{level}/{key}'] = val
        metrics['image/num_images'] = len(target)
        metrics['lesion/num_lesions'] = len(ids)

        self.extras = OrderedDict()
        self._add_proportion_intervals(metrics, levels, cms, inverse, classes)
        if self.bootstrap_rounds:
            self._add_intervals(metrics, levels, inverse, classes)
        for level in levels:
            metrics[f'{level}/confusion_matrix'] = cms[level]

        op_out = None
        if self.operating_point is not None:
            op_out = self._operating_point_metrics(metrics, scores, target,
                                                   lesion_ids, l_target,
                                                   classes)
        self._add_decisions(l_pred, l_target, classes, op_out)

        print_log(self._table(metrics, classes), logger='current')
        if self.out_dir:
            self._write_outputs(results, scores, i_pred, ids, l_scores, l_pred,
                                l_target, inverse, classes, metrics, op_out)
        return metrics

    @staticmethod
    def _warn_split_lesions(results: List[dict], ids: List[str],
                            inverse: np.ndarray) -> None:
        """Warn when one lesion id gathers images from several folders.

        An :class:`ECNBIDataset` lesion lives in one folder; one id over
        several folders means lesions of different cohorts were merged
        (e.g. two cohorts whose folders share a name and no ``cohort``).
        """
        folders: Dict[int, set] = {}
        for lesion, r in zip(inverse, results):
            if r.get('img_path'):
                folders.setdefault(int(lesion), set()).add(
                    osp.dirname(osp.abspath(r['img_path'])))
        merged = [(ids[k], sorted(v)) for k, v in folders.items()
                  if len(v) > 1]
        if merged:
            shown = '; '.join(f'{lid!r}: {dirs}' for lid, dirs in merged[:5])
            msg = (f'LesionMetric: {len(merged)} lesion id(s) gather images '
                   f'from more than one folder ({shown}). If these are '
                   'different lesions (e.g. concatenated cohorts), give each '
                   "ECNBIDataset its own `cohort` so their ids differ.")
            warnings.warn(msg)
            print_log(msg, logger='current', level=30)

    # ------------------------------------------------------------------ #
    # intervals (:mod:`.lesion_intervals`), bound as methods
    _add_proportion_intervals = add_proportion_intervals
    _image_cases = staticmethod(image_cases)
    _insert_intervals = staticmethod(insert_intervals)
    _add_intervals = add_bootstrap_intervals
    _macro_interval = macro_interval

    # operating point, decision table (:mod:`.lesion_decisions`) and the
    # logged table (:mod:`.lesion_table_text`), bound as methods
    _operating_point_metrics = operating_point_metrics
    _add_decisions = add_decisions
    _table = lesion_table

    def _write_outputs(self, results, scores, i_pred, ids, l_scores, l_pred,
                       l_target, inverse, classes, metrics, op_out) -> None:
        self.out_dir = resolve_path(self.out_dir, 'out_dir', makedirs=True)
        from .lesion_outputs import write_lesion_outputs
        write_lesion_outputs(self, results, scores, i_pred, ids, l_scores,
                             l_pred, l_target, inverse, classes, metrics,
                             op_out)

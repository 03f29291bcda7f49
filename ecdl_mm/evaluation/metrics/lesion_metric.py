import json
import os
import warnings
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from sklearn.metrics import roc_auc_score

from mmpretrain.evaluation import ConfusionMatrix
from mmpretrain.registry import METRICS

AGGREGATIONS = ('mean', 'vote', 'max')
PER_CLASS = ('sensitivity', 'specificity', 'ppv', 'npv', 'f1', 'auc')


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0 (scikit-learn's ``zero_division=0``)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _rates(cm: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class rates of confusion matrices ``(..., C, C)`` (rows = truth)."""
    cm = np.asarray(cm, float)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    fn = cm.sum(-1) - tp
    fp = cm.sum(-2) - tp
    tn = cm.sum((-2, -1))[..., None] - tp - fn - fp
    return dict(
        accuracy=_safe_div(tp.sum(-1), cm.sum((-2, -1))),
        sensitivity=_safe_div(tp, tp + fn),
        specificity=_safe_div(tn, tn + fp),
        ppv=_safe_div(tp, tp + fp),
        npv=_safe_div(tn, tn + fn),
        f1=_safe_div(2 * tp, 2 * tp + fp + fn))


def weighted_auc(score: np.ndarray, positive: np.ndarray,
                 weights: np.ndarray) -> np.ndarray:
    """Binary ROC AUC for many weightings of the same scores at once.

    Equals ``sklearn.metrics.roc_auc_score(positive, score,
    sample_weight=w)`` for every row ``w`` of ``weights`` (ties count 1/2),
    via the Mann-Whitney statistic on score groups, so a bootstrap of
    R rounds costs one sort plus O(R * N).

    Args:
        score (np.ndarray): Scores of shape ``(N, )``.
        positive (np.ndarray): Bool labels of shape ``(N, )``.
        weights (np.ndarray): Non-negative weights of shape ``(R, N)``.

    Returns:
        np.ndarray: AUC of shape ``(R, )``; NaN for a row whose weighted
        positives or negatives are all zero.
    """
    order = np.argsort(score, kind='mergesort')
    s = score[order]
    pos = positive[order].astype(float)
    w = weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    wp = np.add.reduceat(w * pos, starts, axis=1)
    wn = np.add.reduceat(w * (1 - pos), starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn
    num = (wp * (below + 0.5 * wn)).sum(1)
    den = wp.sum(1) * wn.sum(1)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


@METRICS.register_module()
class LesionMetric(BaseMetric):
    """Image- and lesion-level metrics with lesion-bootstrap confidence
    intervals.

    Image predictions are grouped by the ``lesion_id`` found in each data
    sample's metainfo (see :class:`ecdl_mm.datasets.ECNBIDataset` for the
    ``PackInputs(meta_keys=...)`` that puts it there; its ids are
    ``'<cohort>/<lesion_index>'``, distinct across concatenated cohorts) and
    aggregated per lesion. A lesion whose images disagree on the label is an
    error; one whose images come from several folders gets a warning (two
    lesions merged under one id). Both levels report accuracy; per-class sensitivity, specificity,
    PPV, NPV, F1 and one-vs-rest ROC AUC with their macro means; micro
    one-vs-rest AUC; and the confusion matrix. Keys are prefixed ``image/``
    and ``lesion/`` (``lesion/accuracy``, ``lesion/sensitivity_adenomas``,
    ``lesion/auc_macro``, ...), so a checkpoint hook can select on
    ``lesion/accuracy``.

    With ``bootstrap_rounds > 0`` every rate also gets
    ``<key>_ci_lower`` / ``<key>_ci_upper``: percentile intervals over
    bootstrap samples of lesions (a lesion is drawn with all its images, so
    the image-level intervals account for images of one lesion being
    correlated). Rounds where a class is absent give no AUC and are left out
    of that AUC's interval.

    Counting conventions: a rate whose denominator is zero is 0 (as
    scikit-learn's ``zero_division=0``); a class without positives or without
    negatives has AUC NaN and the macro AUC averages the defined classes.

    Args:
        aggregation (str): How image scores become a lesion score:
            ``'mean'`` of the softmax probabilities; ``'vote'``, the share of
            images predicting each class (ties broken by mean probability);
            ``'max'``, the per-class maximum probability, renormalised to sum
            to 1. Defaults to 'mean'.
        bootstrap_rounds (int): Bootstrap resamples of lesions for the
            confidence intervals; 0 disables them. Defaults to 1000.
        ci_level (float): Confidence level of the intervals.
            Defaults to 0.95.
        seed (int): Seed of the bootstrap. Defaults to 0.
        out_dir (str, optional): When set, writes ``image_predictions.csv``,
            ``lesion_predictions.csv``, ``metrics.json``,
            ``confusion_matrix_{image,lesion}.png`` and
            ``roc_{image,lesion}.png`` there (overwritten at every
            evaluation). Defaults to None.
        classes (Sequence[str], optional): Class names; defaults to the
            dataset's ``classes`` (``dataset_meta``), else ``class_<i>``.
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
        self.aggregation = aggregation
        self.bootstrap_rounds = bootstrap_rounds
        self.ci_level = ci_level
        self.seed = seed
        self.out_dir = out_dir
        self.classes = tuple(classes) if classes is not None else None

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
                    img_path=sample.get('img_path')))

    # ------------------------------------------------------------------ #
    @staticmethod
    def aggregate(scores: np.ndarray, lesion_ids: Sequence[str],
                  method: str = 'mean'
                  ) -> Tuple[List[str], np.ndarray, np.ndarray, np.ndarray]:
        """Aggregate image scores into lesion scores.

        Args:
            scores (np.ndarray): Image class probabilities ``(N, C)``.
            lesion_ids (Sequence[str]): The lesion of every image, ``(N, )``.
            method (str): 'mean', 'vote' or 'max' (see the class docstring).
                Defaults to 'mean'.

        Returns:
            tuple: ``(ids, lesion_scores (L, C), lesion_pred (L, ),
            image_to_lesion (N, ))``; lesions in order of first appearance.
        """
        if method not in AGGREGATIONS:
            raise ValueError(
                f'aggregation={method!r} must be one of {AGGREGATIONS}')
        scores = np.asarray(scores, dtype=np.float64)
        ids, inverse = [], []
        index = {}
        for lid in lesion_ids:
            if lid not in index:
                index[lid] = len(ids)
                ids.append(lid)
            inverse.append(index[lid])
        inverse = np.asarray(inverse, dtype=np.int64)
        num_l, num_c = len(ids), scores.shape[1]
        counts = np.bincount(inverse, minlength=num_l)[:, None]
        mean = np.zeros((num_l, num_c))
        np.add.at(mean, inverse, scores)
        mean /= counts
        if method == 'mean':
            agg = mean
            pred = agg.argmax(1)
        elif method == 'vote':
            votes = np.zeros((num_l, num_c))
            np.add.at(votes, (inverse, scores.argmax(1)), 1)
            agg = votes / counts
            # most votes first, then the highest mean probability: vote
            # counts differ by >= 1 while 0.5 * mean differs by < 1
            pred = (votes + 0.5 * mean).argmax(1)
        else:
            agg = np.full((num_l, num_c), -np.inf)
            np.maximum.at(agg, inverse, scores)
            agg = agg / agg.sum(1, keepdims=True)
            pred = agg.argmax(1)
        return ids, agg, pred.astype(np.int64), inverse

    @staticmethod
    def calculate(scores: np.ndarray,
                  pred: np.ndarray,
                  target: np.ndarray,
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
        cm = ConfusionMatrix.calculate(
            np.asarray(pred), np.asarray(target),
            num_classes=num_c).numpy()
        rates = _rates(cm)
        out = OrderedDict(accuracy=float(rates['accuracy']))
        aucs = np.full(num_c, np.nan)
        for k in range(num_c):
            positive = np.asarray(target) == k
            if 0 < positive.sum() < len(positive):
                aucs[k] = roc_auc_score(positive, scores[:, k])
        rates['auc'] = aucs
        for name in PER_CLASS:
            for k, cls in enumerate(classes):
                out[f'{name}_{cls}'] = float(rates[name][k])
            vals = rates[name]
            out[f'{name}_macro'] = float(np.nanmean(vals)) \
                if not np.all(np.isnan(vals)) else float('nan')
        onehot = np.eye(num_c)[np.asarray(target)]
        if 0 < onehot.sum() < onehot.size and len(np.unique(target)) > 1:
            out['auc_micro'] = float(
                roc_auc_score(onehot.ravel(), np.asarray(scores).ravel()))
        else:
            out['auc_micro'] = float('nan')
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
        pair = np.zeros((len(target), num_c * num_c))
        pair[np.arange(len(target)), target * num_c + pred] = 1
        cm = (weights @ pair).reshape(-1, num_c, num_c)
        rates = _rates(cm)
        onehot = np.eye(num_c, dtype=bool)[target]
        rates['auc'] = np.stack([
            weighted_auc(scores[:, k], onehot[:, k], weights)
            for k in range(num_c)
        ], axis=1)
        rates['auc_micro'] = weighted_auc(scores.ravel(), onehot.ravel(),
                                          np.repeat(weights, num_c, axis=1))
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

        if self.bootstrap_rounds:
            self._add_intervals(metrics, levels, inverse, classes)
        for level in levels:
            metrics[f'{level}/confusion_matrix'] = cms[level]

        print_log(self._table(metrics, classes), logger='current')
        if self.out_dir:
            self._write_outputs(results, scores, i_pred, ids, l_scores,
                                l_pred, l_target, inverse, classes, metrics)
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

    def _add_intervals(self, metrics, levels, inverse, classes) -> None:
        num_l = int(inverse.max()) + 1
        rng = np.random.default_rng(self.seed)
        alpha = (1 - self.ci_level) / 2 * 100
        collected = {level: {} for level in levels}
        chunk = max(1, 2_000_000 // max(len(inverse) * len(classes), 1))
        for start in range(0, self.bootstrap_rounds, chunk):
            rounds = min(chunk, self.bootstrap_rounds - start)
            draws = rng.integers(0, num_l, size=(rounds, num_l))
            mult = np.bincount(
                (draws + np.arange(rounds)[:, None] * num_l).ravel(),
                minlength=rounds * num_l).reshape(rounds, num_l).astype(float)
            for level, (s, p, t) in levels.items():
                w = mult[:, inverse] if level == 'image' else mult
                rates = self.bootstrap_stats(s, p, t, w)
                store = collected[level]
                store.setdefault('accuracy', []).append(rates['accuracy'])
                store.setdefault('auc_micro', []).append(rates['auc_micro'])
                for name in PER_CLASS:
                    vals = rates[name]
                    for k, cls in enumerate(classes):
                        store.setdefault(f'{name}_{cls}', []).append(vals[:,
                                                                          k])
                    with warnings.catch_warnings():
                        # all-NaN rows (no AUC defined) stay NaN, silently
                        warnings.simplefilter('ignore', RuntimeWarning)
                        macro = np.nanmean(vals, axis=1)
                    store.setdefault(f'{name}_macro', []).append(macro)
        intervals = {}
        for level, store in collected.items():
            for key, chunks in store.items():
                vals = np.concatenate(chunks)
                vals = vals[~np.isnan(vals)]
                lo, hi = (np.percentile(vals, [alpha, 100 - alpha])
                          if len(vals) else (float('nan'), float('nan')))
                intervals[f'{level}/{key}'] = (float(lo), float(hi))
        # each interval right after its metric, in the logs and metrics.json
        ordered = list(metrics.items())
        metrics.clear()
        for key, val in ordered:
            metrics[key] = val
            if key in intervals:
                metrics[f'{key}_ci_lower'], metrics[f'{key}_ci_upper'] = \
                    intervals[key]

    def _table(self, metrics, classes) -> str:
        names = ['accuracy'] + [
            f'{n}_{c}' for n in PER_CLASS for c in list(classes) + ['macro']
        ] + ['auc_micro']

        def cell(level, name):
            val = metrics.get(f'{level}/{name}', float('nan'))
            text = f'{val:.4f}'
            lo = metrics.get(f'{level}/{name}_ci_lower')
            if lo is not None:
                hi = metrics[f'{level}/{name}_ci_upper']
                text += f' [{lo:.4f}, {hi:.4f}]'
            return text

        width = max(len(n) for n in names) + 2
        ci = (f', {self.ci_level:.0%} CI over {self.bootstrap_rounds} '
              'lesion bootstrap rounds' if self.bootstrap_rounds else '')
        lines = [
            f'LesionMetric (aggregation={self.aggregation}{ci}): '
            f'{metrics["image/num_images"]} images, '
            f'{metrics["lesion/num_lesions"]} lesions',
            f'{"metric":<{width}}{"image":<28}lesion'
        ]
        for name in names:
            lines.append(
                f'{name:<{width}}{cell("image", name):<28}'
                f'{cell("lesion", name)}')
        for level in ('image', 'lesion'):
            lines.append(f'{level} confusion matrix (rows true, columns '
                         f'predicted; {", ".join(classes)}):')
            for row in metrics[f'{level}/confusion_matrix']:
                lines.append('  ' + ' '.join(f'{int(v):6d}' for v in row))
        return '\n'.join(lines)

    def _write_outputs(self, results, scores, i_pred, ids, l_scores, l_pred,
                       l_target, inverse, classes, metrics) -> None:
        import pandas as pd
        os.makedirs(self.out_dir, exist_ok=True)
        image_rows = []
        for r, s, p in zip(results, scores, i_pred):
            row = OrderedDict(
                img_path=r['img_path'],
                lesion_id=r['lesion_id'],
                patient_id=r['patient_id'],
                gt_label=r['gt_label'],
                gt_class=classes[r['gt_label']])
            row.update({f'prob_{c}': float(v) for c, v in zip(classes, s)})
            row.update(pred_label=int(p), pred_class=classes[p])
            image_rows.append(row)
        pd.DataFrame(image_rows).to_csv(
            osp.join(self.out_dir, 'image_predictions.csv'), index=False)

        n_images = np.bincount(inverse, minlength=len(ids))
        patients = {}
        for r in results:
            patients.setdefault(r['lesion_id'], r['patient_id'])
        lesion_rows = []
        for i, lid in enumerate(ids):
            row = OrderedDict(
                lesion_id=lid,
                patient_id=patients[lid],
                num_images=int(n_images[i]),
                gt_label=int(l_target[i]),
                gt_class=classes[l_target[i]])
            row.update(
                {f'prob_{c}': float(v)
                 for c, v in zip(classes, l_scores[i])})
            row.update(pred_label=int(l_pred[i]), pred_class=classes[l_pred[i]])
            lesion_rows.append(row)
        pd.DataFrame(lesion_rows).to_csv(
            osp.join(self.out_dir, 'lesion_predictions.csv'), index=False)

        def jsonable(v):
            return v.tolist() if isinstance(v, np.ndarray) else v

        with open(osp.join(self.out_dir, 'metrics.json'), 'w') as f:
            json.dump(
                dict(
                    aggregation=self.aggregation,
                    bootstrap_rounds=self.bootstrap_rounds,
                    ci_level=self.ci_level,
                    classes=list(classes),
                    metrics={k: jsonable(v)
                             for k, v in metrics.items()}),
                f,
                indent=2)
        self._plot(scores, np.array([r['gt_label'] for r in results]),
                   metrics['image/confusion_matrix'], classes, 'image')
        self._plot(l_scores, l_target, metrics['lesion/confusion_matrix'],
                   classes, 'lesion')

    def _plot(self, scores, target, cm, classes, level) -> None:
        import matplotlib
        matplotlib.use('Agg', force=False)
        import matplotlib.pyplot as plt
        import torch
        from sklearn.metrics import roc_curve

        with warnings.catch_warnings():
            # matplotlib's numpy-2 copy warning on the tensor mmpretrain wants
            warnings.simplefilter('ignore', DeprecationWarning)
            fig = ConfusionMatrix.plot(
                torch.as_tensor(cm),
                include_values=True,
                classes=list(classes),
                show=False)
        fig.axes[0].set_title(f'{level}-level confusion matrix')
        fig.savefig(osp.join(self.out_dir, f'confusion_matrix_{level}.png'))
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(6, 6))
        onehot = np.eye(len(classes))[target]
        for k, cls in enumerate(classes):
            if 0 < onehot[:, k].sum() < len(target):
                fpr, tpr, _ = roc_curve(onehot[:, k], scores[:, k])
                auc = roc_auc_score(onehot[:, k], scores[:, k])
                ax.plot(fpr, tpr, label=f'{cls} (AUC {auc:.3f})')
        if len(np.unique(target)) > 1:
            fpr, tpr, _ = roc_curve(onehot.ravel(), scores.ravel())
            auc = roc_auc_score(onehot.ravel(), scores.ravel())
            ax.plot(fpr, tpr, linestyle=':', label=f'micro (AUC {auc:.3f})')
        ax.plot([0, 1], [0, 1], color='grey', linewidth=0.5)
        ax.set(
            xlabel='1 - specificity',
            ylabel='sensitivity',
            title=f'{level}-level one-vs-rest ROC',
            xlim=(0, 1),
            ylim=(0, 1.01))
        ax.legend(loc='lower right')
        fig.savefig(osp.join(self.out_dir, f'roc_{level}.png'), dpi=100)
        plt.close(fig)


# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The study's shared arrays and its lesion bootstrap (every estimate of the
study on the same resamples of
:func:`ecdl_mm.evaluation.functional.bootstrap_distribution`)."""
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...functional import bootstrap_distribution, weighted_auc
from ...stats import weighted_rates
from ..model_comparison import paired_outcomes
from ..predictions import LesionPredictions
from .constants import ALL_READERS
from .reads import ReaderReads


def rate_metric_names(classes: Sequence[str]) -> List[str]:
    return (['accuracy'] + [f'sensitivity_{c}' for c in classes] +
            [f'specificity_{c}' for c in classes])


def _rate_counts(metric: str, classes: Sequence[str], target: np.ndarray,
                 pred: np.ndarray) -> Tuple[int, int]:
    cases, right, _ = paired_outcomes(metric, classes, target, pred, pred)
    return int(right[cases].sum()), int(cases.sum())


def _boot_rates(pred: np.ndarray, target: np.ndarray, weights: np.ndarray,
                classes: Sequence[str]) -> Dict[str, np.ndarray]:
    rates = weighted_rates(pred, target, weights, len(classes))
    out = dict(accuracy=rates['accuracy'])
    for k, c in enumerate(classes):
        out[f'sensitivity_{c}'] = rates['sensitivity'][:, k]
        out[f'specificity_{c}'] = rates['specificity'][:, k]
    return out


def consensus(diagnosis: np.ndarray, confidence: Optional[np.ndarray],
              num_classes: int) -> Tuple[np.ndarray, int]:
    """Plurality diagnosis of a group of readers per lesion.

    Ties go to the class with the larger summed confidence, then to the
    lower class index.

    Args:
        diagnosis (np.ndarray): ``(R, L)``.
        confidence (np.ndarray, optional): ``(R, L)``.
        num_classes (int): ``C``.

    Returns:
        tuple: ``(L, )`` consensus and the number of tied lesions.
    """
    onehot = np.eye(num_classes)[diagnosis]  # (R, L, C)
    votes = onehot.sum(0)
    top = votes.max(1, keepdims=True)
    tied = int(((votes == top).sum(1) > 1).sum())
    conf = (confidence[..., None] * onehot).sum(0) if confidence is not None \
        else np.zeros_like(votes)
    # votes dominate; confidence breaks ties, argmax takes the lowest index
    key = np.where(votes == top, 1.0, 0.0) * (1 + conf - conf.min())
    return key.argmax(1), tied


def interval_row(leading: Dict[str, object], value: float, ci: Tuple[float,
                                                                     float],
                 **trailing) -> 'OrderedDict[str, object]':
    """The row shape of every estimate of the study: ``leading`` fields,
    ``value``, ``ci_lower``, ``ci_upper``, then ``trailing`` fields.

    :func:`ecdl_mm.evaluation.report.reader_report.interval_cell` reads it
    back.
    """
    return OrderedDict(
        **leading, value=value, ci_lower=ci[0], ci_upper=ci[1], **trailing)


@dataclass
class _Study:
    """What every table of :func:`run_reader_study` is computed from."""
    reads: ReaderReads
    pred: np.ndarray  # the model's diagnosis of the ``L`` lesions read
    scores: np.ndarray  # (L, C)
    target: np.ndarray
    members: 'OrderedDict[str, List[int]]'  # group -> reader indices
    parts: List[Tuple[int, int]]  # (session, reader) that took part
    ci_level: float
    exact_below: int

    @property
    def classes(self) -> Tuple[str, ...]:
        return self.reads.classes

    @property
    def metrics(self) -> List[str]:
        return rate_metric_names(self.classes)

    def sessions_of(self, js: Sequence[int], s: int) -> List[int]:
        """The readers of ``js`` who took part in session ``s``."""
        return [j for j in js if (s, j) in self.parts]


def _make_study(model: LesionPredictions, reads: ReaderReads, ci_level: float,
                exact_below: int) -> _Study:
    m = model.subset(reads.lesion_ids)
    group_names = reads.group_names
    members = OrderedDict(
        (g, [j for j, r in enumerate(reads.readers) if reads.groups[r] == g])
        for g in group_names)
    if len(group_names) > 1:
        members[ALL_READERS] = list(range(len(reads.readers)))
    parts = [(s, j) for j in range(len(reads.readers))
             for s in range(len(reads.sessions)) if reads.took_part(s, j)]
    return _Study(reads, m.pred, m.scores, m.target, members, parts, ci_level,
                  exact_below)


def bootstrap_study(st: _Study, rounds: int, seed: int) -> Tuple[dict, dict]:
    """One pass of paired lesion-bootstrap resamples for every estimate.

    Returns:
        tuple: The model's resampled rates and AUCs (``{metric: (B, )}``)
        and each reader's and session's rates
        (``{(s, j): {metric: (B, )}}``).
    """
    classes, target = st.classes, st.target
    onehot = np.eye(len(classes), dtype=bool)[target]

    def statistic(w):
        out = OrderedDict()
        for key, val in _boot_rates(st.pred, target, w, classes).items():
            out[(None, key)] = val
        for k, c in enumerate(classes):
            out[(None, f'auc_{c}')] = weighted_auc(st.scores[:, k],
                                                   onehot[:, k], w)
        for (s, j) in st.parts:
            rates = _boot_rates(st.reads.diagnosis[s, j], target, w, classes)
            for key, val in rates.items():
                out[((s, j), key)] = val
        return out

    dist = bootstrap_distribution(statistic, len(target), rounds, seed)
    boot_model, boot_reader = {}, {p: {} for p in st.parts}
    for (part, key), values in dist.items():
        (boot_model if part is None else boot_reader[part])[key] = values
    return boot_model, boot_reader

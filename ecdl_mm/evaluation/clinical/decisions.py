# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The clinical decision table: what an endoscopist would do with each
lesion-level call, against the truth.

Classes map to actions (configurable); the EC-DL default is
non-neoplastic -> leave in situ, adenoma -> endoscopic resection, invasive
cancer -> surgical referral. With an operating point, lesions under its
confidence are *deferred* (no optical diagnosis: resect or biopsy as
usual). The table shows

* counts of every action against every true class, and the rate of each
  action among the lesions of that class (``k/n``, Wilson interval);
* the NPV of the confident "leave in situ" calls over all lesions
  (``leave_npv``): the share of them whose histology is truly in a "leave"
  class, flagged when the interval's lower bound is under the target. It is
  not ASGE's PIVI figure, which is defined on diminutive (<= 5 mm)
  rectosigmoid lesions only (:mod:`ecdl_mm.evaluation.clinical.pivi`);
* the miss rate of the "surgical referral" classes: the share of truly
  invasive cancers that were confidently given another action.
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np

from ..functional import proportion_interval, safe_div

LEAVE = 'leave in situ'
RESECT = 'endoscopic resection'
REFER = 'surgical referral'
DEFER = 'deferred (uncertain)'
DEFAULT_ACTIONS = OrderedDict([('non-neoplastic', LEAVE), ('adenomas', RESECT),
                               ('invasive_cancer', REFER)])


def _entry(k, n, ci_level):
    lo, hi = proportion_interval(k, n, ci_level)
    return OrderedDict(
        value=float(safe_div(k, n)),
        k=int(k),
        n=int(n),
        ci_lower=lo,
        ci_upper=hi)


def decision_table(pred: np.ndarray,
                   target: np.ndarray,
                   classes: Sequence[str],
                   actions: Optional[Dict[str, str]] = None,
                   uncertain: Optional[np.ndarray] = None,
                   npv_target: float = 0.90,
                   ci_level: float = 0.95) -> Optional[dict]:
    """Actions against truth for lesion-level calls.

    Args:
        pred (np.ndarray): Lesion calls ``(L, )``.
        target (np.ndarray): True classes ``(L, )``.
        classes (Sequence[str]): Class names.
        actions (dict, optional): Class name -> action; every class needs
            one. Defaults to :data:`DEFAULT_ACTIONS` when it covers the
            classes, else there is no table (returns None).
        uncertain (np.ndarray, optional): Bool ``(L, )``: deferred lesions.
        npv_target (float): Target of ``leave_npv``. Defaults to 0.90.
        ci_level (float): Defaults to 0.95.

    Returns:
        dict or None: ``actions`` (class -> action), ``rows`` (one per
        action: ``action``, ``counts`` per true class, ``rates`` per true
        class as k/n entries), ``leave_npv`` (entry plus ``target``,
        ``flag``), ``miss_rate`` (per referral class, entry),
        ``num_deferred``.
    """
    classes = list(classes)
    if actions is None:
        if not set(classes) <= set(DEFAULT_ACTIONS):
            return None
        actions = {c: DEFAULT_ACTIONS[c] for c in classes}
    missing = [c for c in classes if c not in actions]
    if missing:
        raise ValueError(f'actions={dict(actions)!r} give no action for '
                         f'class(es) {missing}')
    pred, target = np.asarray(pred), np.asarray(target)
    unc = (
        np.zeros(len(pred), bool) if uncertain is None else np.asarray(
            uncertain, bool))
    action_of = np.array([actions[classes[p]] for p in pred], dtype=object)
    action_of[unc] = DEFER
    order = [a for a in (LEAVE, RESECT, REFER) if a in actions.values()]
    order += [a for a in dict.fromkeys(actions.values()) if a not in order]
    if unc.any():
        order.append(DEFER)
    rows = []
    for a in order:
        said = action_of == a
        counts = OrderedDict((c, int((said & (target == k)).sum()))
                             for k, c in enumerate(classes))
        rates = OrderedDict(
            (c, _entry(counts[c], (target == k).sum(), ci_level))
            for k, c in enumerate(classes))
        rows.append(
            OrderedDict(
                action=a, total=int(said.sum()), counts=counts, rates=rates))
    leave_classes = [k for k, c in enumerate(classes) if actions[c] == LEAVE]
    out = OrderedDict(
        actions=dict(actions), rows=rows, num_deferred=int(unc.sum()))
    if leave_classes:
        leave = action_of == LEAVE
        npv = _entry((leave & np.isin(target, leave_classes)).sum(),
                     leave.sum(), ci_level)
        npv.update(
            target=npv_target, flag=bool(not npv['ci_lower'] >= npv_target))
        out['leave_npv'] = npv
    out['miss_rate'] = OrderedDict()
    for k, c in enumerate(classes):
        if actions[c] != REFER:
            continue
        truly = target == k
        missed = truly & (action_of != REFER) & (action_of != DEFER)
        out['miss_rate'][c] = _entry(missed.sum(), truly.sum(), ci_level)
    return out

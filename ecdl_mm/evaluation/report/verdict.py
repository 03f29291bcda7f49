# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The lines a lesion report opens with: a one-line verdict and, when the
test set is small, the caveat that it decides nothing."""
import math
from typing import Optional, Sequence, Tuple

#: A test set is "small" when the interval of its lesion accuracy is wider
#: than this (a 95% Wilson interval around 0.5 reaches 0.2 at ~96 lesions).
SMALL_CI_WIDTH = 0.2


def _num(v) -> Optional[float]:
    return None if v is None or (isinstance(v, float)
                                 and math.isnan(v)) else float(v)


def uncertain_rule(op: dict) -> str:
    """When the operating point calls a lesion uncertain, in words."""
    rule = (f"a lesion is uncertain below confidence "
            f"{op.get('min_confidence', 0):.3f}")
    n = int(op.get('min_images', 1) or 1)
    if n > 1:  # every lesion has at least one image
        rule += f' or when seen in fewer than {n} images'
    return rule


def lesion_verdict(info: dict,
                   pred_labels: Sequence[int]) -> Tuple[str, Optional[str]]:
    """``(verdict, caveat)`` of a LesionMetric ``metrics.json``.

    Args:
        info (dict): The loaded ``metrics.json``.
        pred_labels (Sequence[int]): The predicted class of each lesion.

    Returns:
        tuple: The verdict line, and the caveat line (None unless the
        lesion accuracy interval is wider than :data:`SMALL_CI_WIDTH`).
    """
    m, counts = info['metrics'], info.get('counts', {})
    classes = info['classes']
    level = f"{info.get('ci_level', 0.95):.0%} CI"
    parts = []
    acc = _num(m.get('lesion/accuracy'))
    lo = _num(m.get('lesion/accuracy_ci_lower'))
    hi = _num(m.get('lesion/accuracy_ci_upper'))
    if acc is not None:
        bits = [f'{level} {lo:.3f} to {hi:.3f}'] if lo is not None and \
            hi is not None else []
        kn = counts.get('lesion/accuracy')
        bits += [f"{kn['k']}/{kn['n']}"] if kn else []
        parts.append(f'lesion accuracy {acc:.3f}' +
                     (f' ({", ".join(bits)})' if bits else ''))
    auc = _num(m.get('lesion/auc_macro'))
    alo = _num(m.get('lesion/auc_macro_ci_lower'))
    ahi = _num(m.get('lesion/auc_macro_ci_upper'))
    if auc is not None:
        text = f'macro AUC {auc:.3f}'
        if alo is not None and ahi is not None:
            text += f' ({alo:.3f} to {ahi:.3f})'
            if alo <= 0.5 <= ahi:
                text += ', not distinguishable from chance (0.5)'
        parts.append(text)
    preds = set(int(p) for p in pred_labels)
    if len(preds) == 1 and len(classes) > 1:
        parts.append(f'every lesion is called {classes[preds.pop()]}')
    cov, sel = counts.get('selective/coverage'), counts.get(
        'selective/accuracy')
    if cov and sel:
        parts.append(f"under the operating point {cov['k']} of {cov['n']} "
                     f"lesions are accepted, {sel['k']} of them correct")
    verdict = 'Verdict: ' + ('; '.join(parts) or 'no lesion metrics') + '.'
    caveat = None
    if lo is not None and hi is not None and hi - lo > SMALL_CI_WIDTH:
        n = m.get('lesion/num_lesions', len(pred_labels))
        caveat = (f'Caveat: {int(n)} test lesions decide nothing: the '
                  f'{level} of the lesion accuracy is {hi - lo:.2f} wide '
                  f'({lo:.2f} to {hi:.2f}); read every figure below with '
                  'its interval.')
    return verdict, caveat


def add_verdict(report, info: dict, pred_labels: Sequence[int]) -> None:
    """Open ``report`` (an :class:`~.html.HtmlReport`) with the verdict of
    :func:`lesion_verdict` (``id="verdict"``) and its caveat
    (``id="caveat"``, a banner)."""
    verdict, caveat = lesion_verdict(info, pred_labels)
    report.lead(verdict, 'verdict')
    if caveat:
        report.lead(caveat, 'caveat', warn=True)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The overlay of the live CAD's annotated video."""
from typing import Dict, Optional

import cv2
import numpy as np

_GREEN, _RED, _AMBER, _WHITE = (60, 200, 60), (40, 40, 230), (0, 190, 255), \
    (255, 255, 255)


def draw_overlay(image: np.ndarray, call: Optional[Dict], frame_meta: Dict,
                 age: Optional[float]) -> np.ndarray:
    """A copy of ``image`` with the current call drawn on it.

    Top left: the quality light (green: the frame is diagnosed; red: it is
    rejected, with the reason), the lesion's class, its confidence bar,
    ``UNCERTAIN`` when the call is uncertain (in the class's size: an
    abstention must not read as a diagnosis), and how old the answer is.

    Args:
        image (np.ndarray): BGR frame ``(H, W, 3)``; not modified.
        call (dict, optional): ``pred_class``, ``confidence`` and
            ``uncertain`` (a running call); None when there is no answer.
        frame_meta (dict): ``accepted`` and ``reason`` of the gate.
        age (float, optional): Seconds since the frame the answer was
            computed on was read.

    Returns:
        np.ndarray: The annotated copy.
    """
    out = image.copy()
    h, w = out.shape[:2]
    s = max(0.4, w / 1200)
    th = max(1, int(round(2 * s)))
    x0, y0 = int(12 * s), int(12 * s)
    panel_w, panel_h = int(360 * s), int(138 * s)
    cv2.rectangle(out, (0, 0), (x0 + panel_w, y0 + panel_h), (0, 0, 0), -1)
    ok = bool(frame_meta.get('accepted'))
    r = int(10 * s)
    cv2.circle(out, (x0 + r, y0 + r), r, _GREEN if ok else _RED, -1)
    cv2.putText(out, 'diagnosed' if ok else str(frame_meta.get('reason')),
                (x0 + 3 * r, y0 + int(1.5 * r)), cv2.FONT_HERSHEY_SIMPLEX,
                0.6 * s, _WHITE, th)
    if call is None:
        cv2.putText(out, 'no answer yet', (x0, y0 + int(55 * s)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.7 * s, _WHITE, th)
        return out
    conf = float(call['confidence'])
    uncertain = bool(call.get('uncertain'))
    colour = _AMBER if uncertain else _GREEN
    cv2.putText(out, str(call['pred_class']), (x0, y0 + int(52 * s)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.8 * s, colour, th)
    if uncertain:
        cv2.putText(out, 'UNCERTAIN', (x0, y0 + int(102 * s)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.8 * s, _AMBER, th)
    bar_y = y0 + int(64 * s)
    bar_w = int(200 * s)
    cv2.rectangle(out, (x0, bar_y), (x0 + bar_w, bar_y + int(12 * s)),
                  (90, 90, 90), -1)
    cv2.rectangle(
        out, (x0, bar_y),
        (x0 + int(bar_w * min(max(conf, 0.0), 1.0)), bar_y + int(12 * s)),
        colour, -1)
    cv2.putText(out, f'{conf:.2f}',
                (x0 + bar_w + int(8 * s), bar_y + int(11 * s)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5 * s, _WHITE, th)
    if age is not None:
        cv2.putText(out, f'answer {age * 1000:.0f} ms old',
                    (x0, y0 + int(126 * s)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.55 * s, _WHITE, th)
    return out

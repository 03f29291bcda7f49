# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The drawings of :class:`~ecdl_mm.apis.LesionInferencer`
(:meth:`LesionInferencer.visualize`): every image's prediction, filed per
lesion."""
import os
import os.path as osp
from typing import Callable, List, Optional

import numpy as np
from mmpretrain.structures import DataSample


def draw_lesions(lesions: List[dict],
                 preds: List[DataSample],
                 draw: Callable[..., List[np.ndarray]],
                 show: bool = False,
                 show_dir: Optional[str] = None,
                 **kwargs) -> List[np.ndarray]:
    """Draw the images of each lesion with ``draw`` (e.g.
    :meth:`ImageClassificationInferencer.visualize`: ``draw(images, preds,
    show=, show_dir=, **kwargs)``); with ``show_dir``, the drawings of a
    lesion go to ``show_dir/<cohort>/<lesion>/``.

    Args:
        lesions (list[dict]): Lesions with ``lesion_id`` and ``images``, in
            the order of ``preds``.
        preds (list[DataSample]): One prediction per image.

    Returns:
        list[np.ndarray]: One drawing per image, in the order of ``preds``.
    """
    drawings, start = [], 0
    for lesion in lesions:
        n = len(lesion['images'])
        folder = None
        if show_dir is not None:
            folder = osp.join(show_dir, *lesion['lesion_id'].split('/'))
            os.makedirs(folder, exist_ok=True)
        drawings.extend(
            draw(
                lesion['images'],
                preds[start:start + n],
                show=show,
                show_dir=folder,
                **kwargs))
        start += n
    return drawings

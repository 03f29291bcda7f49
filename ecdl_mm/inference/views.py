# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The test-time view: one implementation for every inference path.

A view is a crop ratio (applied by the test pipeline, see
:meth:`OperatingPoint.test_pipeline`) and a horizontal flip (applied here:
the probabilities of an image and its mirror are averaged). Every path
(:class:`LesionInferencer`, :class:`StreamInferencer`,
``split_predictions.predict_views``, ``tools/test.py --tta``) computes its
probabilities through :func:`view_probs` with a "probabilities of a batch"
callable, so they agree to float rounding.
"""
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn as nn

#: ``f(x (B, 3, H, W) normalised) -> probabilities (B, C)``
ProbsFn = Callable[[torch.Tensor], torch.Tensor]


def model_probs_fn(model: nn.Module) -> ProbsFn:
    """The probabilities of a classifier, ``softmax(model(x, 'tensor'))``
    in float32 (what mmpretrain's ``ClsHead.predict`` gives).

    Args:
        model (nn.Module): An mmpretrain classifier.

    Returns:
        callable: ``f(x) -> (B, C)`` float32 probabilities.
    """

    def probs(x: torch.Tensor) -> torch.Tensor:
        logits = model(x, mode='tensor')
        if isinstance(logits, (tuple, list)):
            logits = logits[-1]
        return torch.softmax(logits.float(), dim=-1)

    return probs


def view_probs(probs_fn: ProbsFn,
               inputs: torch.Tensor,
               flip: bool = False) -> torch.Tensor:
    """Probabilities of a normalised batch under a view.

    With ``flip`` the model is called **once**, on the batch followed by its
    horizontal mirror, and the two halves are averaged.

    Args:
        probs_fn (callable): Batch -> probabilities ``(B, C)``.
        inputs (torch.Tensor): ``(B, 3, H, W)`` as the data preprocessor
            gives.
        flip (bool): Average with the mirror image. Defaults to False.

    Returns:
        torch.Tensor: ``(B, C)`` float32 probabilities.
    """
    if not flip:
        return probs_fn(inputs).float()
    return plain_and_flipped(probs_fn, inputs)[1]


def plain_and_flipped(probs_fn: ProbsFn, inputs: torch.Tensor) -> tuple:
    """The probabilities of ``inputs`` without and with the flip view, from
    one model call on the batch and its mirror (what :func:`view_probs`
    does with ``flip``; ``split_predictions`` needs both).

    Returns:
        tuple: ``(plain (B, C), flip-averaged (B, C))`` float32.
    """
    n = inputs.shape[0]
    out = probs_fn(torch.cat([inputs, inputs.flip(-1)])).float()
    return out[:n], (out[:n] + out[n:]) / 2


@dataclass(frozen=True)
class TestTimeView:
    """A test-time view: ``crop_ratio`` (None: the whole frame) and
    ``flip``.

    Args:
        crop_ratio (float, optional): Centre square of this share of the
            shorter side, before the config's resize. Defaults to None.
        flip (bool): Horizontal-flip averaging. Defaults to False.
    """
    __test__ = False  # not a pytest class
    crop_ratio: Optional[float] = None
    flip: bool = False

    @classmethod
    def of(cls, operating_point=None) -> 'TestTimeView':
        """The view of an :class:`OperatingPoint` (or of its ``view``
        dict); the plain view for None."""
        if operating_point is None:
            return cls()
        view = getattr(operating_point, 'view', operating_point) or {}
        ratio = view.get('crop_ratio') \
            if view.get('name') == 'center_crop' else None
        return cls(None if ratio is None else float(ratio),
                   bool(view.get('flip')))

    def as_dict(self) -> dict:
        """The operating point's ``view`` dict of this view."""
        if self.crop_ratio is None:
            return dict(name='whole', crop_ratio=None, flip=self.flip)
        return dict(
            name='center_crop', crop_ratio=self.crop_ratio, flip=self.flip)

    def pipeline(self, pipeline: Sequence[dict]) -> List[dict]:
        """The test pipeline with the crop of this view inserted after the
        loading transform (:meth:`OperatingPoint.test_pipeline`)."""
        from ..evaluation.operating_point import OperatingPoint
        return OperatingPoint(
            classes=['_'], view=self.as_dict()).test_pipeline(pipeline)

    def probs(self, probs_fn: ProbsFn, inputs: torch.Tensor) -> torch.Tensor:
        """:func:`view_probs` with this view's flip."""
        return view_probs(probs_fn, inputs, self.flip)

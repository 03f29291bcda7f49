# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The operating point: how a trained model's probabilities are turned into a
decision a clinician can act on.

An operating point is fitted on the *validation* split
(``tools/analysis/fit_operating_point.py``) and stored as one JSON file. Every
consumer (``tools/test.py --operating-point``, ``tools/infer.py``,
:class:`ecdl_mm.apis.LesionInferencer`, the live stream inferencer) reads it
with :meth:`OperatingPoint.load` and uses only this class's methods, so the
file's meaning lives in one place.

File format (JSON object; unknown keys are kept and written back)::

    {
      "format": "ecdl_mm.operating_point/1",
      "classes": ["adenomas", "invasive_cancer", "non-neoplastic"],
      "view": {"name": "whole", "crop_ratio": null, "flip": false},
      "temperature": 1.37,
      "min_confidence": 0.62,         # a lesion is uncertain below this
      "min_images": 1,                # ... or with fewer images / frames
      "thresholds": {"accuracy=0.95": 0.62, ...},
      "targets": ["accuracy=0.95", ...],
      "validation": {...}             # figures with CIs, free form
    }

``view.name`` is one of :data:`VIEWS`: ``'whole'`` resizes the whole frame to
the input size (the EC-DL release's test transform), ``'center_crop'`` takes a
centre crop of ``crop_ratio`` of the shorter side first; ``flip`` adds
horizontal-flip test-time augmentation (probabilities averaged).

Order of operations (every consumer): image probabilities are calibrated
(:meth:`OperatingPoint.calibrate`), *then* aggregated into a lesion (the
metric's aggregation, mean by default), and the lesion is ``uncertain``
when its calibrated top probability is under ``min_confidence``
(:meth:`OperatingPoint.decide` does all three).
"""
import json
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

FORMAT = 'ecdl_mm.operating_point/1'
VIEWS = ('whole', 'center_crop')


class OperatingPointError(ValueError):
    """An operating-point file that cannot be used; the message names the
    file and the field."""


@dataclass
class OperatingPoint:
    """Calibration, abstention and test-time view of one model.

    Args:
        classes (list[str]): Class names, in the model's output order.
        temperature (float): Temperature applied to the log-probabilities
            (temperature scaling). Defaults to 1.0 (no change).
        min_confidence (float): A lesion whose calibrated top probability is
            below this is ``uncertain``. Defaults to 0.0 (never).
        min_images (int): A lesion with fewer accepted images (or video
            frames) than this is ``uncertain``. Defaults to 1.
        view (dict): The test-time view, see the module docstring.
            Defaults to the whole frame, no flip.
        thresholds (dict): The confidence threshold found for each target.
        targets (list[str]): The targets as given to the fitting tool.
        validation (dict): Validation figures, free form.
        extra (dict): Unknown keys of the file, written back unchanged.
    """
    classes: List[str]
    temperature: float = 1.0
    min_confidence: float = 0.0
    min_images: int = 1
    view: Dict = field(default_factory=lambda: dict(
        name='whole', crop_ratio=None, flip=False))
    thresholds: Dict[str, float] = field(default_factory=dict)
    targets: List[str] = field(default_factory=list)
    validation: Dict = field(default_factory=dict)
    extra: Dict = field(default_factory=dict)
    path: Optional[str] = None

    def __post_init__(self):
        where = f"operating point {self.path!r}" if self.path else \
            'operating point'
        if not self.classes or not all(
                isinstance(c, str) for c in self.classes):
            raise OperatingPointError(
                f'{where}: classes={self.classes!r} must be a non-empty list '
                'of class names')
        if not (isinstance(self.temperature, (int, float))
                and math.isfinite(self.temperature) and self.temperature > 0):
            raise OperatingPointError(
                f'{where}: temperature={self.temperature!r} must be a '
                'positive number')
        if not (isinstance(self.min_confidence, (int, float))
                and 0.0 <= self.min_confidence <= 1.0):
            raise OperatingPointError(
                f'{where}: min_confidence={self.min_confidence!r} must be in '
                '[0, 1]')
        if not (isinstance(self.min_images, int) and self.min_images >= 1):
            raise OperatingPointError(
                f'{where}: min_images={self.min_images!r} must be an integer '
                '>= 1')
        view = dict(name='whole', crop_ratio=None, flip=False)
        view.update(self.view or {})
        if view['name'] not in VIEWS:
            raise OperatingPointError(
                f"{where}: view.name={view['name']!r} must be one of {VIEWS}")
        if view['name'] == 'center_crop':
            r = view.get('crop_ratio')
            if not (isinstance(r, (int, float)) and 0 < r <= 1):
                raise OperatingPointError(
                    f'{where}: view.crop_ratio={r!r} must be in (0, 1] for '
                    'a centre crop')
        self.view = view

    # ---------------------------------------------------------------- file
    @classmethod
    def load(cls, path: str) -> 'OperatingPoint':
        """Read an operating-point JSON file (clear error on any bad field)."""
        if not osp.isfile(path):
            raise OperatingPointError(f'operating point {path!r} not found')
        try:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise OperatingPointError(
                f'operating point {path!r} is not a JSON file: {e}') from None
        if not isinstance(data, dict):
            raise OperatingPointError(
                f'operating point {path!r} must hold a JSON object')
        fmt = data.get('format', FORMAT)
        if fmt != FORMAT:
            raise OperatingPointError(
                f'operating point {path!r}: format={fmt!r}, expected '
                f'{FORMAT!r}')
        known = ('classes', 'temperature', 'min_confidence', 'min_images',
                 'view', 'thresholds', 'targets', 'validation')
        if 'classes' not in data:
            raise OperatingPointError(
                f"operating point {path!r} has no 'classes' field")
        kwargs = {k: data[k] for k in known if k in data}
        extra = {
            k: v
            for k, v in data.items() if k not in known and k != 'format'
        }
        return cls(**kwargs, extra=extra, path=path)

    def to_dict(self) -> dict:
        out = dict(
            format=FORMAT,
            classes=list(self.classes),
            view=dict(self.view),
            temperature=float(self.temperature),
            min_confidence=float(self.min_confidence),
            min_images=int(self.min_images),
            thresholds=dict(self.thresholds),
            targets=list(self.targets),
            validation=self.validation)
        out.update(self.extra)
        return out

    def save(self, path: str) -> str:
        from ..utils.io import save_json
        return save_json(self.to_dict(), path)

    # ------------------------------------------------------------ decisions
    def check_classes(self, classes: Sequence[str], where: str = 'model'):
        """Raise unless ``classes`` equal the operating point's, in order."""
        if list(classes) != list(self.classes):
            raise OperatingPointError(
                f'operating point {self.path!r} was fitted for classes '
                f'{list(self.classes)}, but the {where} has {list(classes)}')

    def calibrate(self, probs: np.ndarray) -> np.ndarray:
        """Temperature-scaled probabilities, ``(N, C)`` -> ``(N, C)``.

        ``softmax(log(p) / T)`` equals ``softmax(logits / T)`` exactly (the
        log-sum-exp shift cancels), so probabilities are enough.
        """
        p = np.asarray(probs, dtype=np.float64)
        squeeze = p.ndim == 1
        p = np.atleast_2d(p)
        if p.shape[1] != len(self.classes):
            raise OperatingPointError(
                f'operating point {self.path!r}: probabilities have '
                f'{p.shape[1]} classes, expected {len(self.classes)}')
        logp = np.log(np.clip(p, 1e-300, None)) / float(self.temperature)
        logp -= logp.max(axis=1, keepdims=True)
        out = np.exp(logp)
        out /= out.sum(axis=1, keepdims=True)
        return out[0] if squeeze else out

    def is_uncertain(self,
                     calibrated: np.ndarray,
                     num_images: Optional[Sequence[int]] = None) -> np.ndarray:
        """Boolean ``(N,)``: top calibrated probability under
        ``min_confidence``, or fewer than ``min_images`` images/frames."""
        p = np.atleast_2d(np.asarray(calibrated, dtype=np.float64))
        out = p.max(axis=1) < self.min_confidence
        if num_images is not None:
            out |= np.asarray(num_images) < self.min_images
        return out

    def decide(self,
               image_probs: np.ndarray,
               lesion_ids: Sequence[str],
               aggregation: str = 'mean') -> Dict[str, object]:
        """Calibrate image probabilities, aggregate them into lesions and
        flag the uncertain lesions.

        Args:
            image_probs (np.ndarray): ``(N, C)`` raw probabilities.
            lesion_ids (Sequence[str]): The lesion of every image.
            aggregation (str): 'mean', 'vote' or 'max'. Defaults to 'mean'.

        Returns:
            dict: ``lesion_ids`` (first-appearance order), ``probs``
            ``(L, C)`` calibrated lesion probabilities, ``pred (L, )``,
            ``confidence (L, )``, ``num_images (L, )``, ``uncertain (L, )``
            and ``image_probs`` ``(N, C)`` calibrated.
        """
        from .functional import aggregate_lesions
        cal = self.calibrate(image_probs)
        ids, agg, pred, inverse = aggregate_lesions(
            np.atleast_2d(cal), lesion_ids, aggregation)
        n_images = np.bincount(inverse, minlength=len(ids))
        return dict(
            lesion_ids=ids,
            probs=agg,
            pred=pred,
            confidence=agg.max(1),
            num_images=n_images,
            uncertain=self.is_uncertain(agg, n_images),
            image_probs=np.atleast_2d(cal))

    def apply_to_config(self, cfg) -> None:
        """Prepare a test config for this operating point (in place): the
        test pipeline gets the view (:meth:`test_pipeline`) and every
        ``LesionMetric`` of ``test_evaluator`` gets ``operating_point`` (the
        file's path). Flip TTA is left to the caller (``tools/test.py``
        turns on its ``--tta`` flip averaging when ``view.flip``)."""
        from ..utils.config_walk import inner_dataset, lesion_metrics
        ds = inner_dataset(cfg.test_dataloader.dataset)
        ds['pipeline'] = self.test_pipeline(ds['pipeline'])
        found = False
        for metric in lesion_metrics(cfg):
            metric['operating_point'] = self.path
            found = True
        if not found:
            raise OperatingPointError(
                '--operating-point needs a LesionMetric in test_evaluator '
                f'(got {cfg.get("test_evaluator")!r})')

    def test_pipeline(self, pipeline: Sequence[dict]) -> List[dict]:
        """The config's test pipeline with this view applied.

        ``'whole'`` leaves it as it is. ``'center_crop'`` inserts
        :class:`ecdl_mm.datasets.transforms.CenterCropRatio` right after the
        loading transform. Flip TTA is applied by the caller (average of the
        image and its mirror), since mmpretrain pipelines yield one view.
        """
        pipeline = [dict(t) for t in pipeline]
        if self.view['name'] == 'whole':
            return pipeline
        if not pipeline or 'Load' not in str(pipeline[0].get('type')):
            raise OperatingPointError(
                'the test pipeline must start with a loading transform to '
                f'apply view {self.view}')
        crop = dict(
            type='CenterCropRatio', ratio=float(self.view['crop_ratio']))
        return [pipeline[0], crop] + pipeline[1:]

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Inference building blocks shared by every inference path.

- :mod:`.views`: the test-time view (crop ratio, flip) applied to a
  "probabilities of a batch" callable, used by :class:`LesionInferencer`,
  :class:`StreamInferencer`, ``split_predictions`` and ``tools/test.py``;
- :mod:`.preprocess`: the test pipeline's crop, resize, flip and
  normalisation as torch ops on the model's device (GPU pre-processing);
- :mod:`.image_batches`: still images decoded by worker threads and
  batched across images and lesions.

This package may import ``utils``, ``datasets``, ``models`` and
``evaluation``, never ``apis`` or the applications.
"""
from .image_batches import LesionInputError, image_batches
from .preprocess import DevicePreprocessor, UnsupportedTransform
from .tta_model import ViewTTAModel
from .views import TestTimeView, model_probs_fn, view_probs

__all__ = [
    'DevicePreprocessor', 'LesionInputError', 'TestTimeView',
    'UnsupportedTransform', 'ViewTTAModel', 'image_batches', 'model_probs_fn',
    'view_probs'
]

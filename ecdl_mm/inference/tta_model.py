# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Flip test-time averaging for ``tools/test.py`` through the shared view
function (:func:`ecdl_mm.inference.view_probs`)."""
from typing import Callable, List, Optional

import torch
from mmengine.model import BaseTTAModel
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .views import model_probs_fn, view_probs


@MODELS.register_module()
class ViewTTAModel(BaseTTAModel):
    """A classifier under a test-time view, for the test loop.

    Replaces mmpretrain's ``AverageClsScoreTTA`` + ``TestTimeAug`` flip
    pipeline: the test pipeline stays as it is (one view per image) and
    :meth:`test_step` scores each batch with its mirror in one model call
    (:func:`view_probs`), as every other inference path does. Checkpoints
    load as for any ``BaseTTAModel`` (the classifier is ``self.module``).

    With a ``backend`` or ``precision`` other than eager fp32 (``tools/test.py
    --backend / --precision``), the classifier runs through
    :func:`ecdl_mm.deploy.load_backend`, built on the first batch (after the
    checkpoint is loaded) and checked there against eager fp32.

    Args:
        module (dict | nn.Module): The classifier.
        flip (bool): Average with the horizontal mirror. Defaults to True.
        backend (str): A ``load_backend`` backend. Defaults to 'eager'.
        precision (str, optional): 'fp32', 'fp16' or 'bf16' (CUDA). Defaults
            to None (the backend's default).
    """

    def __init__(self,
                 module,
                 flip: bool = True,
                 backend: str = 'eager',
                 precision: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(module, **kwargs)
        self.flip = bool(flip)
        self.backend_name, self.precision = backend, precision
        self._backend = None

    def probs_fn(self, inputs: torch.Tensor) -> Callable:
        """The "probabilities of a batch" callable of the classifier."""
        if self.backend_name == 'eager' and self.precision in (None, 'fp32'):
            return model_probs_fn(self.module)
        if self._backend is None:
            from ..deploy import load_backend
            self._backend = load_backend(self.module, self.backend_name,
                                         inputs[:1].float(), inputs.device,
                                         self.precision)
        return self._backend

    def test_step(self, data) -> List[DataSample]:
        data = self.module.data_preprocessor(data, False)
        samples = data.get('data_samples')
        inputs = data['inputs']
        probs = view_probs(self.probs_fn(inputs), inputs, self.flip)
        if samples is None:
            samples = [DataSample() for _ in range(len(inputs))]
        for sample, p in zip(samples, probs):
            sample.set_pred_score(p).set_pred_label(torch.argmax(p))
        return samples

    def merge_preds(self, data_samples_list):  # pragma: no cover - unused
        raise NotImplementedError('ViewTTAModel merges in test_step')

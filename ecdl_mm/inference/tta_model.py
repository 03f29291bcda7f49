# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Flip test-time averaging for ``tools/test.py`` through the shared view
function (:func:`ecdl_mm.inference.view_probs`)."""
from typing import List

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

    Args:
        module (dict | nn.Module): The classifier.
        flip (bool): Average with the horizontal mirror. Defaults to True.
    """

    def __init__(self, module, flip: bool = True, **kwargs) -> None:
        super().__init__(module, **kwargs)
        self.flip = bool(flip)

    def test_step(self, data) -> List[DataSample]:
        data = self.module.data_preprocessor(data, False)
        samples = data.get('data_samples')
        inputs = data['inputs']
        probs = view_probs(model_probs_fn(self.module), inputs, self.flip)
        if samples is None:
            samples = [DataSample() for _ in range(len(inputs))]
        for sample, p in zip(samples, probs):
            sample.set_pred_score(p).set_pred_label(torch.argmax(p))
        return samples

    def merge_preds(self, data_samples_list):  # pragma: no cover - unused
        raise NotImplementedError('ViewTTAModel merges in test_step')

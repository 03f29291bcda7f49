# Copyright (c) ecdl_mm contributors. All rights reserved.
import torch
import torch.nn as nn


class ExportWrapper(nn.Module):
    """A classifier as one tensor function: images -> class probabilities.

    Args:
        model (nn.Module): An mmpretrain classifier (``forward(x,
            mode='tensor')`` gives the logits) with a
            ``ClsDataPreprocessor`` (mean, std, ``to_rgb``).
        normalize (bool): Whether the input is raw (BGR, 0-255, what
            mmpretrain's ``PackInputs`` gives after the test pipeline) and
            the channel flip and normalisation of the data preprocessor
            happen inside. If False, the input is already what the data
            preprocessor gives. Defaults to True.
    """

    def __init__(self, model: nn.Module, normalize: bool = True):
        super().__init__()
        self.model = model
        self.normalize = bool(normalize)
        pre = model.data_preprocessor
        # ClsDataPreprocessor says ``to_rgb``, mmengine's ImgDataPreprocessor
        # ``_channel_conversion``.
        self.to_rgb = bool(
            getattr(pre, 'to_rgb', getattr(pre, '_channel_conversion',
                                           False))) and self.normalize
        if self.normalize and getattr(pre, '_enable_normalize', False):
            mean, std = pre.mean.clone(), pre.std.clone()
        else:
            mean, std = torch.zeros(3, 1, 1), torch.ones(3, 1, 1)
        self.register_buffer('mean', mean.reshape(1, -1, 1, 1))
        self.register_buffer('std', std.reshape(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forward.

        Args:
            x (torch.Tensor): Images ``(B, 3, H, W)``: BGR 0-255 floats, or
                normalised ones if ``normalize=False``.

        Returns:
            torch.Tensor: Class probabilities ``(B, num_classes)``.
        """
        if self.to_rgb:
            x = x.flip(1)
        if self.normalize:
            x = (x - self.mean) / self.std
        logits = self.model(x, mode='tensor')
        if isinstance(logits, (tuple, list)):
            logits = logits[-1]
        return logits.softmax(dim=-1)

# Copyright (c) ecdl_mm contributors. All rights reserved.
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CenterCropRatio(BaseTransform):
    """Crop the centre square of side ``ratio`` x the shorter image side.

    The test-time view of an operating point
    (:meth:`ecdl_mm.evaluation.operating_point.OperatingPoint.test_pipeline`
    inserts it after the loading transform): a model trained on
    ``RandomResizedCrop`` often sees objects larger than in the whole frame
    (the train/test scale gap, "FixRes"), and a centre crop of 0.875 of the
    short side followed by the config's resize matches that scale, as
    timm's ``crop_pct`` does. Unlike mmpretrain's ``CenterCrop`` the size
    follows the image, so frames of any resolution give the same view.

    Required Keys:

    - img

    Modified Keys:

    - img
    - img_shape

    Added Keys:

    - crop_ratio

    Args:
        ratio (float): Side of the square over the shorter image side, in
            (0, 1]; 1 keeps the centre square of the whole short side.
    """

    def __init__(self, ratio: float) -> None:
        if not (isinstance(ratio, (int, float)) and 0 < ratio <= 1):
            raise ValueError(f'ratio={ratio!r} must be in (0, 1]')
        self.ratio = float(ratio)

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        side = max(1, int(round(self.ratio * min(h, w))))
        top, left = (h - side) // 2, (w - side) // 2
        results['img'] = img[top:top + side, left:left + side]
        results['img_shape'] = results['img'].shape[:2]
        results['crop_ratio'] = self.ratio
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(ratio={self.ratio})'

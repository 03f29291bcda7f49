# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The test pipeline of :class:`~ecdl_mm.apis.LesionInferencer`: built from
the config (its loading transform kept, the operating point's test-time view
applied), its input size and the config's class names."""
from typing import Callable, List, Optional, Tuple

from mmengine.config import Config
from mmengine.dataset import Compose
from mmpretrain.registry import DATASETS, TRANSFORMS

from ..evaluation.operating_point import OperatingPoint, OperatingPointError


def dataset_classes(cfg: Config) -> Optional[tuple]:
    """Class names of the config's test dataset (its ``metainfo``, else its
    class's ``METAINFO``)."""
    ds = cfg.get('test_dataloader', {}).get('dataset', {})
    classes = (ds.get('metainfo') or {}).get('classes')
    if classes is None and isinstance(ds.get('type'), str):
        ds_cls = DATASETS.get(ds['type'])
        classes = getattr(ds_cls, 'METAINFO', {}).get('classes')
    return tuple(classes) if classes else None


def build_test_pipeline(
    cfg: Config,
    operating_point: Optional[OperatingPoint] = None
) -> Tuple[List[dict], Callable]:
    """The config's test pipeline, its loading transform (LoadImageFromFile
    or a faster one) kept so that files are read exactly as at test time,
    under the operating point's test-time view (if any).

    Returns:
        tuple: ``(pipeline_cfg, pipeline)``: the transforms' configs (plain
        dicts) and their :class:`Compose`.

    Raises:
        ValueError: When the pipeline does not start with a loading
            transform.
        OperatingPointError: When a transform of the view cannot be built.
    """
    pipeline = cfg.test_dataloader.dataset.pipeline
    if not pipeline or 'Load' not in pipeline[0]['type']:
        raise ValueError('the test pipeline must start with an image '
                         f'loading transform, got {pipeline[:1]}')
    if operating_point is not None:
        pipeline = operating_point.test_pipeline(pipeline)
    pipeline_cfg = [dict(t) for t in pipeline]
    transforms = []
    for t in pipeline:
        try:
            transforms.append(TRANSFORMS.build(t))
        except KeyError as err:
            view = getattr(operating_point, 'view', None)
            raise OperatingPointError(
                f'cannot build the test transform {t["type"]!r} '
                f'(operating-point view {view}): {err}') from err
    return pipeline_cfg, Compose(transforms)


def pipeline_input_size(pipeline_cfg: List[dict]) -> Tuple[int, int]:
    """The model's input ``(H, W)``: the last ``Resize`` scale or
    ``CenterCrop`` size of the pipeline (224 if none)."""
    for t in reversed(pipeline_cfg):
        kind = str(t.get('type', '')).split('.')[-1]
        size = t.get('scale') if kind == 'Resize' else t.get(
            'crop_size') if kind == 'CenterCrop' else None
        if size is not None:
            w, h = (size, size) if isinstance(size, int) else size
            return int(h), int(w)
    return 224, 224

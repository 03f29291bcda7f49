# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Run a trained model over a validation split under several test-time
views (the input of ``tools/analysis/fit_operating_point.py``)."""
from collections import OrderedDict
from copy import deepcopy
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from ..evaluation.operating_point import OperatingPoint
from ..utils.config_check import ConfigError
from ..utils.config_walk import inner_dataset


def _sheet(dataset_cfg) -> Tuple[Optional[str], ...]:
    ds = inner_dataset(dataset_cfg)  # wrappers (ClassBalancedDataset, ...)
    return (ds.get('data_root'), ds.get('ann_file'), ds.get('sheet_name')) \
        if isinstance(ds, dict) else (None, None, None)


def validation_dataset_cfg(cfg,
                           sheet: Optional[str] = None,
                           ann_file: Optional[str] = None) -> dict:
    """The dataset config of the validation split to fit on.

    The config's ``val_dataloader.dataset`` when it has one, else its test
    dataset with ``sheet`` (and ``ann_file``) replaced; ``sheet`` /
    ``ann_file`` override either. The test pipeline is used.

    Raises:
        ConfigError: When the split is the config's test sheet (an operating
            point is never fitted on the lesions it is tested on), or when
            there is no validation split and no ``sheet``.
    """
    test_ds = cfg.test_dataloader.dataset
    val_loader = cfg.get('val_dataloader')
    if val_loader and val_loader.get('dataset'):
        ds = deepcopy(val_loader['dataset'])
    elif sheet or ann_file:
        ds = deepcopy(test_ds)
    else:
        raise ConfigError(
            'the config has no validation split (val_dataloader is None): '
            'give the validation sheet with --sheet (e.g. one written by '
            'tools/dataset_converters/make_splits.py)')
    from_test = not (val_loader and val_loader.get('dataset'))
    ds = dict(ds)
    ds['disjoint_with'] = list(ds.get('disjoint_with') or [])
    root, test_file, test_sheet = _sheet(test_ds)
    if from_test:
        # the test dataset's own disjointness (e.g. from the training sheet
        # a validation split may be carved from) does not apply
        ds['disjoint_with'] = []
    if ann_file:
        # sheet names of the old workbook keep pointing at it
        ds['disjoint_with'] = [
            dict(ann_file=ds.get('ann_file'), sheet_name=d) if isinstance(
                d, str) else d for d in ds.get('disjoint_with') or []
        ]
        ds['ann_file'] = ann_file
    if sheet:
        ds['sheet_name'] = sheet
    ds['pipeline'] = deepcopy(test_ds['pipeline'])
    v_root, v_file, v_sheet = _sheet(ds)
    if (v_root, v_file, v_sheet) == (root, test_file, test_sheet):
        raise ConfigError(
            f'refusing to fit an operating point on the config\'s test '
            f'sheet {test_sheet!r} of {test_file!r}: fit on a validation '
            'split (--sheet), never on the lesions you report')
    if test_sheet:
        # the split must share no lesion with the test sheet (checked by
        # ECNBIDataset when it is built)
        item = test_sheet if v_file == test_file else dict(
            ann_file=test_file, sheet_name=test_sheet)
        if item not in ds['disjoint_with']:
            ds['disjoint_with'] = list(ds.get('disjoint_with') or []) + [item]
    return ds


def dataset_classes(dataset_cfg: dict) -> list:
    """Class names of a dataset config without building it: its
    ``metainfo`` or the dataset type's default ``METAINFO``."""
    from mmpretrain.registry import DATASETS
    ds = inner_dataset(dataset_cfg)
    classes = (ds.get('metainfo') or {}).get('classes')
    if classes is None:
        cls = DATASETS.get(str(ds.get('type', '')))
        classes = getattr(cls, 'METAINFO', {}).get('classes')
    return list(classes or [])


def predict_views(cfg,
                  checkpoint: str,
                  dataset_cfg: dict,
                  crop_ratios: Sequence[Optional[float]] = (None, 0.95, 0.875),
                  batch_size: int = 8,
                  device: str = 'cpu') -> Dict[str, object]:
    """Image probabilities of a split under every candidate view.

    Each crop ratio (None: the whole frame) is one pass over the split;
    each pass also scores the horizontal mirror, giving the flip-TTA view
    (mean of the two probabilities, :func:`ecdl_mm.inference.views.
    plain_and_flipped`: one model call on the images and their mirrors).

    Returns:
        dict: ``views`` (OrderedDict view key -> ``(view, probs (N, C))``
        in :data:`ecdl_mm.evaluation.operating_point_fit.VIEW_CANDIDATES`
        order), ``target (N, )``, ``lesion_ids``, ``classes``,
        ``img_paths``.
    """
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS

    from ..evaluation.operating_point_fit import view_key
    from ..inference.views import model_probs_fn, plain_and_flipped
    from ..models.builder import load_model
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = load_model(cfg, checkpoint, device=device)

    plain, flipped = OrderedDict(), OrderedDict()
    target = lesion_ids = classes = paths = None
    for ratio in crop_ratios:
        view = (
            dict(name='whole', crop_ratio=None, flip=False) if ratio is None
            else dict(name='center_crop', crop_ratio=float(ratio), flip=False))
        ds_cfg = deepcopy(dataset_cfg)
        ds_cfg['pipeline'] = OperatingPoint(
            classes=['_'], view=view).test_pipeline(ds_cfg['pipeline'])
        dataset = DATASETS.build(ds_cfg)
        probs, flips, tg, lids, pth = [], [], [], [], []
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                batch = pseudo_collate([
                    dataset[i] for i in range(
                        start, min(len(dataset), start + batch_size))
                ])
                data = model.data_preprocessor(batch, False)
                # the shared view function: one call on images + mirrors
                p_plain, p_flip = plain_and_flipped(
                    model_probs_fn(model), data['inputs'])
                probs.append(p_plain.cpu().numpy())
                flips.append(p_flip.cpu().numpy())
                for s in data['data_samples']:
                    tg.append(int(s.gt_label))
                    lids.append(str(s.lesion_id))
                    pth.append(s.get('img_path'))
        if target is None:
            target, lesion_ids, paths = np.array(tg), lids, pth
            classes = list(dataset.metainfo['classes'])
        p, q = np.concatenate(probs), np.concatenate(flips)
        plain[view_key(view)] = (view, p.astype(np.float64))
        fview = dict(view, flip=True)
        flipped[view_key(fview)] = (fview, q.astype(np.float64))
    views = OrderedDict(list(plain.items()) + list(flipped.items()))
    return dict(
        views=views,
        target=target,
        lesion_ids=lesion_ids,
        classes=classes,
        img_paths=paths)

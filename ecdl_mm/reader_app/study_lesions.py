# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The lesions of a reader study (``lesions:`` of the study YAML, see
:mod:`.study`): found by :class:`ecdl_mm.datasets.ECNBIDataset` from a split
sheet or a ``lesion_predictions.csv``, and matched with the model's
predictions."""
from typing import Dict, List, Optional, Tuple

from ..evaluation.clinical.predictions import (LesionPredictions,
                                               load_lesion_predictions,
                                               name_list)
from .study import Lesion, StudyError, _need, _resolve

__all__ = ['dataset_lesions', 'study_lesions']


def dataset_lesions(path: str, data_root: str, split: Optional[str],
                    sheet: Optional[str], classes: Tuple[str, ...],
                    cohort: Optional[str]) -> List[Lesion]:
    """Lesions and images as :class:`ECNBIDataset` finds them (its checks:
    missing folders, wrong class folder, unreadable or truncated images)."""
    from ecdl_mm.datasets import ECNBIDataset
    try:
        ds = ECNBIDataset(
            data_root=data_root,
            ann_file=split or '',
            sheet_name=sheet if split else None,
            metainfo=dict(classes=classes),
            cohort=cohort,
            check_images=True,
            test_mode=True)
    except (ValueError, FileNotFoundError) as e:
        raise StudyError(f'{path}: lesions: {e}') from None
    lesions: Dict[str, Lesion] = {}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        les = lesions.setdefault(
            info['lesion_id'],
            Lesion(info['lesion_id'], int(info['gt_label']), []))
        les.images.append(info['img_path'])
    return list(lesions.values())


def study_lesions(path: str, base: str, lesion_cfg: dict,
                  model: Optional[LesionPredictions], model_csv: str,
                  classes: Tuple[str, ...]) -> List[Lesion]:
    """The study's lesions, in the model file's (else the sheet's) order.

    Raises:
        StudyError: Naming the file: a missing ``data_root``, not exactly
            one of ``split`` and ``predictions``, lesions of the CSV without
            a folder, a sheet that disagrees with the model's predictions
            (lesions missing on either side, or different true classes).
    """
    data_root = _resolve(base, lesion_cfg.get('data_root'))
    _need(data_root is not None, path,
          'lesions.data_root (the folder of the images) is required')
    split = _resolve(base, lesion_cfg.get('split'))
    lesion_csv = _resolve(base, lesion_cfg.get('predictions'))
    _need(
        bool(split) != bool(lesion_csv), path,
        'lesions needs exactly one of split (a split sheet) or '
        'predictions (a lesion_predictions.csv)')
    found = dataset_lesions(path, data_root, split, lesion_cfg.get('sheet'),
                            classes, lesion_cfg.get('cohort'))
    if lesion_csv:
        listed = load_lesion_predictions(lesion_csv)
        by_id = {les.lesion_id: les for les in found}
        missing = [lid for lid in listed.lesion_ids if lid not in by_id]
        _need(
            not missing, path,
            f'{len(missing)} lesion(s) of {lesion_csv} have no folder '
            f'under {data_root}: {name_list(missing)}')
        lesions = [by_id[lid] for lid in listed.lesion_ids]
        sheet_name = lesion_csv
    else:
        lesions = found
        sheet_name = split + (f' [sheet {lesion_cfg["sheet"]!r}]'
                              if lesion_cfg.get('sheet') else '')
    if model is not None:
        ids = {les.lesion_id for les in lesions}
        extra = [lid for lid in ids if lid not in set(model.lesion_ids)]
        _need(
            not extra, path,
            f'the lesion sheet {sheet_name} and the model predictions '
            f'{model_csv} disagree: {len(extra)} lesion(s) of the sheet '
            f'have no prediction: {name_list(sorted(extra))}')
        lacking = [lid for lid in model.lesion_ids if lid not in ids]
        _need(
            not lacking, path,
            f'the lesion sheet {sheet_name} and the model predictions '
            f'{model_csv} disagree: {len(lacking)} predicted lesion(s) '
            f'are not in the sheet: {name_list(lacking)}')
        by_id = {les.lesion_id: les for les in lesions}
        lesions = [by_id[lid] for lid in model.lesion_ids]
        wrong = [
            f'{les.lesion_id} ({classes[les.target]} vs '
            f'{classes[t]})' for les, t in zip(lesions, model.target)
            if les.target != t
        ]
        _need(
            not wrong, path,
            f'the lesion sheet {sheet_name} and the model predictions '
            f'{model_csv} disagree on the true class of {len(wrong)} '
            f'lesion(s): {", ".join(wrong[:10])}')
    return lesions

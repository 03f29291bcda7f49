# Copyright (c) ecdl_mm contributors. All rights reserved.
import os
import os.path as osp
import warnings
from collections import OrderedDict
from typing import List, Optional, Sequence, Union

import pandas as pd
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS
from PIL import Image

from .lesion_metadata import metadata_columns
from .split_sheet import DataError, check_split_leakage, load_split_sheet

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')


def _check_image(path: str) -> Optional[str]:
    """Decode an image and return why it is unusable, or None when it is fine.

    JPEGs are decoded in draft mode (DCT scaled by 1/8): the whole stream is
    still read, so truncation is caught, at about half the cost.
    """
    try:
        with Image.open(path) as img:
            if img.format == 'JPEG':
                img.draft('RGB',
                          (max(1, img.size[0] // 8), max(1, img.size[1] // 8)))
            img.load()
    except Exception as e:  # PIL raises many types for broken files
        return f'{type(e).__name__}: {e}'
    return None


@DATASETS.register_module()
class ECNBIDataset(BaseDataset):
    """EC-NBI endocytoscopy images grouped by lesion.

    Reads the layout of the EC-DL release::

        data_root/
        ├── adenomas/<lesion_index>/Images/*.jpg
        ├── invasive_cancer/<lesion_index>/Images/*.jpg
        ├── non-neoplastic/<lesion_index>/Images/*.jpg
        └── dataset_divide.xlsx        # split sheets, e.g. demo_train

    A split sheet (``.xlsx`` sheet or ``.csv``; columns ``class_index``,
    ``class_english``, ``lesion_index``, optional ``patient_id``) restricts the
    lesions and gives their labels. Without a sheet every lesion folder under
    the class folders is used and labelled by its class folder. Images are
    sorted by lesion (sheet order, else class then lesion) and by file name.

    Every data info holds ``img_path``, ``gt_label``, ``lesion_index`` (the
    sheet's / folder's index as a string, e.g. ``'2'``; lesion indices are
    unique across classes in the release, and a duplicate is refused),
    ``cohort``, ``lesion_id`` = ``'<cohort>/<lesion_index>'`` (e.g.
    ``'ecdl-demo/2'``) and ``patient_id`` (the sheet's value as a string, or
    None when the sheet has none). ``lesion_id`` is the identity metrics group
    images by: qualified by the cohort, two cohorts that both number a lesion
    ``2`` stay two lesions when concatenated (``ConcatDataset``). The cohort
    defaults to the name of the ``data_root`` folder; give ``cohort``
    explicitly when concatenated cohorts live in folders of the same name.
    To let metrics group by lesion, pack the ids into the data samples::

        dict(type='PackInputs',
             meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                        'lesion_id', 'patient_id'))

    Lesion metadata (``centre``, ``size_mm``, ``location``, ``morphology``
    and the ``extra_columns``; see :mod:`.lesion_metadata`), when the sheet
    has any, is checked while the sheet is read and put in every data info
    as ``lesion_meta`` (an ordered dict, ``rectosigmoid`` derived); a
    ``PackInputs`` of the pipeline that packs ``lesion_id`` then packs
    ``lesion_meta`` too, so :class:`~ecdl_mm.evaluation.LesionMetric`
    writes the columns to ``lesion_predictions.csv``. A sheet without them
    gives data infos without ``lesion_meta``, as before.

    All problems are raised as :class:`DataError` (a ``ValueError``) or
    ``FileNotFoundError``, naming the file, lesion or sheet row while the
    dataset is built, before
    any training: a sheet lesion without a folder, a lesion whose folder is in
    another class, a lesion without images, a duplicated lesion id, a lesion
    or patient that is also in one of the ``disjoint_with`` splits, and an
    unreadable or truncated image. When a split compared by ``disjoint_with``
    has no ``patient_id`` (column missing or empty), a warning says that
    patients were not checked.

    Args:
        data_root (str): The root of the layout above.
        ann_file (str): The split sheet (``.csv`` / ``.xlsx``), relative to
            ``data_root`` unless absolute. Defaults to '' (no sheet: every
            lesion folder).
        sheet_name (str, optional): The workbook sheet, e.g. ``'demo_train'``.
            Defaults to None (the first sheet).
        metainfo (dict, optional): Meta information; ``classes`` gives the
            class names and their order (the sheet's ``class_index`` /
            ``class_english`` must agree). Defaults to None, which uses
            :attr:`METAINFO`.
        pipeline (Sequence): Processing pipeline. Defaults to ().
        disjoint_with (Sequence[str | dict]): Other splits that must share no
            lesion and no patient with this one (data-leakage check). Each
            item is a sheet name of the same workbook, a path to another
            ``.csv`` / ``.xlsx`` (relative to ``data_root``), or
            ``dict(ann_file=..., sheet_name=...)``. Defaults to ().
        check_images (bool): Decode every image once while building the
            dataset, so broken files are found now rather than mid-epoch.
            Defaults to True.
        skip_bad_images (bool): With ``check_images``, drop unreadable images
            and warn with the list of every skipped file instead of raising.
            A lesion left without images is still an error. Defaults to False.
        cohort (str, optional): Name that qualifies the lesion ids
            (``'<cohort>/<lesion_index>'``). Defaults to None, the name of the
            ``data_root`` folder.
        extra_columns (Sequence[str]): Other columns of the sheet carried
            with each lesion as text (in ``lesion_meta``), e.g.
            ``['endoscopist']``. Defaults to ().
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``test_mode``, ``lazy_init``, ``indices``, ...).
    """

    METAINFO = dict(classes=('adenomas', 'invasive_cancer', 'non-neoplastic'))

    def __init__(self,
                 data_root: str,
                 ann_file: str = '',
                 sheet_name: Optional[str] = None,
                 metainfo: Optional[dict] = None,
                 pipeline: Sequence = (),
                 data_prefix: Union[str, dict] = '',
                 disjoint_with: Sequence[Union[str, dict]] = (),
                 check_images: bool = True,
                 skip_bad_images: bool = False,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 cohort: Optional[str] = None,
                 extra_columns: Sequence[str] = (),
                 **kwargs):
        if not data_root or not osp.isdir(data_root):
            raise FileNotFoundError(
                f'data_root={data_root!r} is not a directory')
        if cohort is None:
            cohort = osp.basename(osp.normpath(osp.abspath(data_root)))
        if not isinstance(cohort, str) or not cohort.strip():
            raise DataError(f'cohort={cohort!r} must be a non-empty string')
        self.cohort = cohort
        if isinstance(disjoint_with, (str, dict)):
            disjoint_with = [disjoint_with]
        if skip_bad_images and not check_images:
            raise DataError('skip_bad_images=True needs check_images=True')
        self.sheet_name = sheet_name
        self.disjoint_with = list(disjoint_with)
        self.check_images = check_images
        self.skip_bad_images = skip_bad_images
        self.extensions = tuple(e.lower() for e in extensions)
        self.extra_columns = [extra_columns] if isinstance(
            extra_columns, str) else list(extra_columns)
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            pipeline=pipeline,
            **kwargs)

    # ------------------------------------------------------------------ #
    def _resolve(self, path: str) -> str:
        return path if osp.isabs(path) else osp.join(self.data_root, path)

    def _load_other_split(self, item):
        if isinstance(item, dict):
            if 'ann_file' not in item and 'sheet_name' not in item:
                raise DataError(f'disjoint_with item {item} needs ann_file '
                                'and/or sheet_name')
            path = self._resolve(item.get('ann_file', '')) \
                if item.get('ann_file') else self.ann_file
            sheet = item.get('sheet_name')
        elif osp.splitext(item)[1].lower() in ('.csv', '.xlsx', '.xls',
                                               '.xlsm'):
            path, sheet = self._resolve(item), None
        else:
            path, sheet = self.ann_file, item
        if not path or (sheet and osp.splitext(path)[1].lower() == '.csv'):
            has = (f'ann_file {path} is a .csv file (no sheets)'
                   if path else 'this dataset has no ann_file workbook')
            raise DataError(
                f'disjoint_with item {item!r} is a sheet name but {has}: '
                "name the other split's file, e.g. disjoint_with="
                "['test.csv'], or set disjoint_with=[]")
        name = f'{path}[{sheet}]' if sheet else path
        try:
            return name, load_split_sheet(path, sheet)
        except (DataError, FileNotFoundError) as e:
            raise type(e)(f'disjoint_with item {item!r}: {e}') from None

    def _lesion_folders(self, img_root: str, classes: Sequence[str]) -> dict:
        """Map lesion id to the list of class names holding such a folder."""
        found = {}
        for cls in classes:
            cls_dir = osp.join(img_root, cls)
            if not osp.isdir(cls_dir):
                continue
            for entry in sorted(os.listdir(cls_dir)):
                if osp.isdir(osp.join(cls_dir, entry)):
                    found.setdefault(entry, []).append(cls)
        return found

    def _list_images(self, lesion_dir: str) -> List[str]:
        img_dir = osp.join(lesion_dir, 'Images')
        if not osp.isdir(img_dir):
            img_dir = lesion_dir
        return [
            osp.join(img_dir, f) for f in sorted(os.listdir(img_dir))
            if osp.splitext(f)[1].lower() in self.extensions
            and osp.isfile(osp.join(img_dir, f))
        ]

    def load_data_list(self) -> List[dict]:
        """Build one data info per image; see the class docstring."""
        classes = self.metainfo.get('classes')
        if not classes:
            raise DataError('metainfo must give the class names (classes)')
        img_root = self.data_prefix['img_path']
        if not osp.isdir(img_root):
            raise FileNotFoundError(f'image root {img_root} does not exist')
        folders = self._lesion_folders(img_root, classes)

        if self.ann_file:
            sheet = load_split_sheet(self.ann_file, self.sheet_name, classes,
                                     self.extra_columns)
            meta_cols = metadata_columns(sheet.columns, self.extra_columns)
            where = f'{self.ann_file}' + (f' [sheet {self.sheet_name!r}]'
                                          if self.sheet_name else '')
            lesions = []
            for rec in sheet.to_dict('records'):
                lesion, cls = rec['lesion_index'], rec['class_english']
                holders = folders.get(lesion, [])
                if not holders:
                    raise DataError(
                        f'{where} row {rec["row"]}: lesion {lesion!r} has no '
                        f'folder; expected {osp.join(img_root, cls, lesion)}')
                if cls not in holders:
                    raise DataError(
                        f'{where} row {rec["row"]}: lesion {lesion!r} is '
                        f'labelled {cls!r} but its folder is in the wrong '
                        'class: ' + ', '.join(
                            osp.join(img_root, h, lesion) for h in holders))
                if len(holders) > 1:
                    raise DataError(
                        f'duplicated lesion id {lesion!r}: folders in '
                        f'classes {holders} under {img_root}')
                lesions.append(
                    (lesion, rec['class_index'], cls, rec['patient_id'],
                     OrderedDict((c, rec[c]) for c in meta_cols)))
        else:
            if self.extra_columns:
                raise DataError(f'extra_columns={self.extra_columns} needs a '
                                'split sheet (ann_file)')
            sheet = None
            lesions = []
            for lesion, holders in folders.items():
                if len(holders) > 1:
                    raise DataError(
                        f'duplicated lesion id {lesion!r}: folders in '
                        f'classes {holders} under {img_root}')
            for cls_idx, cls in enumerate(classes):
                for lesion, holders in folders.items():
                    if holders[0] == cls:
                        lesions.append((lesion, cls_idx, cls, None, None))
            if not lesions:
                raise DataError(
                    f'no lesion folder found under {img_root} for the '
                    f'classes {tuple(classes)}')

        if self.disjoint_with:
            mine = sheet if sheet is not None else pd.DataFrame(
                dict(
                    lesion_index=[x[0] for x in lesions],
                    patient_id=[x[3] for x in lesions]))
            this = (f'{self.ann_file}[{self.sheet_name}]'
                    if self.sheet_name else (self.ann_file or img_root))
            splits = {this: mine}
            for item in self.disjoint_with:
                name, df = self._load_other_split(item)
                splits[name] = df
            check_split_leakage(splits)

        data_list, skipped = [], []
        for lesion, cls_idx, cls, patient, meta in lesions:
            lesion_dir = osp.join(img_root, cls, lesion)
            images = self._list_images(lesion_dir)
            if self.check_images:
                good = []
                for path in images:
                    why = _check_image(path)
                    if why is None:
                        good.append(path)
                    elif self.skip_bad_images:
                        skipped.append(f'{path} ({why})')
                    else:
                        raise DataError(
                            f'unreadable or truncated image {path} in lesion '
                            f'{lesion!r}: {why}')
                if not good and images:
                    raise DataError(f'empty lesion {lesion!r}: every image in '
                                    f'{lesion_dir} is unreadable')
                images = good
            if not images:
                raise DataError(
                    f'empty lesion {lesion!r}: no image with extension in '
                    f'{self.extensions} under {lesion_dir}')
            for path in images:
                info = dict(
                    img_path=path,
                    gt_label=int(cls_idx),
                    lesion_id=f'{self.cohort}/{lesion}',
                    lesion_index=lesion,
                    cohort=self.cohort,
                    patient_id=patient)
                if meta:
                    info['lesion_meta'] = OrderedDict(meta)
                data_list.append(info)
        if skipped:
            msg = (f'{type(self).__name__} skipped {len(skipped)} unreadable '
                   'image(s):\n  ' + '\n  '.join(skipped))
            # once: tools/ show warnings through the run's logger
            warnings.warn(msg)
        if any('lesion_meta' in info for info in data_list):
            self._pack_lesion_meta()
        return data_list

    def _pack_lesion_meta(self) -> None:
        """Let every ``PackInputs`` that packs ``lesion_id`` pack
        ``lesion_meta`` too (the metric reads it from the data samples)."""
        for t in getattr(self.pipeline, 'transforms', []):
            keys = getattr(t, 'meta_keys', None)
            if keys is not None and 'lesion_id' in keys and \
                    'lesion_meta' not in keys:
                t.meta_keys = tuple(keys) + ('lesion_meta', )

    def get_lesion_ids(self) -> List[str]:
        """Return the ``lesion_id`` of every sample, in dataset order
        (``'<cohort>/<lesion_index>'``)."""
        return [self.get_data_info(i)['lesion_id'] for i in range(len(self))]

    def extra_repr(self) -> List[str]:
        body = super().extra_repr()
        body.append(f'Cohort: \t{self.cohort}')
        if self.sheet_name:
            body.append(f'Sheet: \t{self.sheet_name}')
        if self._fully_initialized:
            body.append(
                f'Number of lesions: \t{len(set(self.get_lesion_ids()))}')
        return body

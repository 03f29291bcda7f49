# Copyright (c) ecdl_mm contributors. All rights reserved.
"""SYNTHETIC lesion metadata for the demo lesions (random, seeded).

The demo data has no patient, centre, size, location or morphology. To show
every metadata table (subgroups, PIVI, surveillance intervals), this module
draws them at random, loosely by class (non-neoplastic lesions small and
mostly rectosigmoid, invasive cancers large and depressed), and writes a
copy of a split workbook with the extra columns. **None of it describes the
real lesions**: every value is invented, the ids start with ``SYN-`` and the
rows carry ``metadata_source = 'synthetic'``.
"""
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict

import numpy as np
import pandas as pd

from .lesion_metadata import LOCATIONS

SOURCE = 'synthetic'
CENTRES = ('SYN-centre-A', 'SYN-centre-B', 'SYN-centre-C')
# per class: size range (mm), P(rectosigmoid), morphologies
_PROFILES = {
    'non-neoplastic': ((2, 7), 0.7, ('0-IIa', '0-Is', '0-IIb')),
    'adenomas':
    ((2, 15), 0.35, ('0-Is', '0-IIa', '0-Isp', '0-Ip', '0-IIa+IIc')),
    'invasive_cancer':
    ((10, 30), 0.45, ('0-IIa+IIc', '0-IIc', '0-Is+IIc', '0-III')),
}
_DEFAULT = ((3, 20), 0.4, ('0-Is', '0-IIa'))


def synthetic_sheet(sheet: pd.DataFrame, rng: np.random.Generator,
                    first_patient: int) -> pd.DataFrame:
    """A copy of one split sheet with SYNTHETIC ``patient_id``, ``centre``,
    ``size_mm``, ``location``, ``morphology`` and ``metadata_source``.

    Patients hold 1-3 lesions of this sheet (never of another, so splits
    stay disjoint by patient) and belong to one centre.
    """
    out = sheet.copy()
    n = len(out)
    order = rng.permutation(n)
    patient = np.empty(n, dtype=object)
    centre = np.empty(n, dtype=object)
    i, p = 0, first_patient
    while i < n:
        k = int(rng.integers(1, 4))
        pid = f'SYN-P{p:03d}'
        c = CENTRES[int(rng.integers(len(CENTRES)))]
        for j in order[i:i + k]:
            patient[j], centre[j] = pid, c
        i, p = i + k, p + 1
    sizes, locations, morph = [], [], []
    rectosigmoid = ('sigmoid', 'rectum')
    proximal = tuple(x for x in LOCATIONS if x not in rectosigmoid)
    for cls in out['class_english'].astype(str):
        (lo, hi), p_rs, shapes = _PROFILES.get(cls, _DEFAULT)
        size = int(rng.integers(lo, hi + 1))
        sizes.append(size)
        pool = rectosigmoid if rng.random() < p_rs else proximal
        locations.append(pool[int(rng.integers(len(pool)))])
        if size <= 5 and cls != 'invasive_cancer':
            shapes = ('0-IIa', '0-Is')
        morph.append(shapes[int(rng.integers(len(shapes)))])
    out['patient_id'] = patient
    out['centre'] = centre
    out['size_mm'] = sizes
    out['location'] = locations
    out['morphology'] = morph
    out['metadata_source'] = SOURCE
    return out


def write_demo_metadata(workbook: str,
                        out_dir: str,
                        seed: int = 0) -> Dict[str, object]:
    """Write ``out_dir/<workbook stem>_SYNTHETIC_metadata.xlsx``: every
    sheet of ``workbook`` with SYNTHETIC metadata, plus an ``about`` sheet
    that says so.

    Args:
        workbook (str): The split workbook (e.g. the demo's
            ``dataset_divide.xlsx``); read, never written.
        out_dir (str): Where the copy goes; not the workbook's folder.
        seed (int): Seed of the draws. Defaults to 0.

    Returns:
        dict: ``path`` of the copy and ``sheets`` (name -> DataFrame).
    """
    src = osp.realpath(workbook)
    if osp.realpath(out_dir) == osp.dirname(src) or \
            osp.realpath(out_dir).startswith(osp.dirname(src) + os.sep):
        raise ValueError(f'--out-dir {out_dir} is inside the data folder '
                         f'{osp.dirname(src)}; write the synthetic copy to a '
                         'work dir')
    sheets = pd.read_excel(src, sheet_name=None, dtype=str)
    rng = np.random.default_rng(seed)
    out = OrderedDict()
    first = 1
    for name, sheet in sheets.items():
        if 'lesion_index' not in sheet.columns:
            continue
        out[name] = synthetic_sheet(sheet, rng, first)
        first += len(sheet)
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(src))[0]
    path = osp.join(out_dir, f'{stem}_SYNTHETIC_metadata.xlsx')
    about = pd.DataFrame(
        dict(note=[
            'SYNTHETIC lesion metadata: patient_id, centre, size_mm, '
            'location and morphology were drawn at random '
            f'(ecdl_mm.datasets.synthetic_metadata, seed {seed}); they '
            'do not describe the real lesions.', f'source workbook: {src}'
        ]))
    with pd.ExcelWriter(path) as writer:
        for name, df in out.items():
            df.to_excel(writer, sheet_name=name, index=False)
        about.to_excel(writer, sheet_name='about', index=False)
    return dict(path=path, sheets=out)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Post-polypectomy surveillance intervals from a patient's lesions.

A lesion is ``(size_mm, kind)`` with ``kind`` one of :data:`KINDS`:
``'adenoma'``, ``'cancer'`` (invasive cancer: managed as colorectal cancer,
outside the surveillance tables) or ``'non-neoplastic'`` (hyperplastic).
ecdl_mm's classes map to these kinds through the clinical actions
(:data:`ecdl_mm.evaluation.clinical.decisions.DEFAULT_ACTIONS`: leave in
situ -> non-neoplastic, endoscopic resection -> adenoma, surgical referral
-> cancer). Neither table below can use facts a 3-class optical diagnosis
does not give (villous histology, high-grade dysplasia, sessile serrated
lesions, piecemeal resection, family history); the functions apply the
rows that size, count and kind decide, and a patient's interval is the
shortest of every row that applies ("the most advanced finding decides").

References:
    Gupta S, Lieberman D, Anderson JC, et al. Recommendations for
    follow-up after colonoscopy and polypectomy: a consensus update by the
    US Multi-Society Task Force on Colorectal Cancer. Gastroenterology
    2020;158:1131-1153 (Table 2, recommendations for surveillance
    intervals): :data:`USMSTF_2020_TABLE`.

    Hassan C, Antonelli G, Dumonceau JM, et al. Post-polypectomy colonoscopy
    surveillance: European Society of Gastrointestinal Endoscopy (ESGE)
    Guideline - Update 2020. Endoscopy 2020;52:687-700 (Recommendations 1-3
    and Figure 1): :data:`ESGE_2020_TABLE`.
"""
from collections import OrderedDict
from typing import Callable, Dict, Sequence, Tuple

ADENOMA, CANCER, NON_NEOPLASTIC = 'adenoma', 'cancer', 'non-neoplastic'
KINDS = (ADENOMA, CANCER, NON_NEOPLASTIC)
# interval labels, shortest first (a patient takes the shortest that applies)
CANCER_PATHWAY = 'cancer pathway'
SPS_WORKUP = 'serrated polyposis work-up'
RANK = OrderedDict([(CANCER_PATHWAY, 0), ('1y', 1), (SPS_WORKUP, 2), ('3y', 3),
                    ('3-5y', 4), ('7-10y', 5), ('10y', 6),
                    ('no surveillance (screening)', 7)])

Lesion = Tuple[float, str]

#: USMSTF 2020, Table 2 (the rows a 3-class diagnosis can decide):
#: finding -> interval.
USMSTF_2020_TABLE = OrderedDict([
    ('normal colonoscopy', '10y'),
    ('< 20 hyperplastic polyps < 10 mm', '10y'),
    ('hyperplastic polyp >= 10 mm', '3-5y'),
    ('1-2 tubular adenomas < 10 mm', '7-10y'),
    ('3-4 tubular adenomas < 10 mm', '3-5y'),
    ('5-10 tubular adenomas < 10 mm', '3y'),
    ('adenoma >= 10 mm', '3y'),
    ('> 10 adenomas', '1y'),
    ('>= 20 hyperplastic polyps (serrated polyposis criteria)', SPS_WORKUP),
    ('invasive cancer (outside the table)', CANCER_PATHWAY),
])

#: ESGE 2020, Recommendations 1-3 / Figure 1: finding -> interval.
#: "No surveillance" means return to the national screening programme
#: (or colonoscopy at 10 years where there is none).
ESGE_2020_TABLE = OrderedDict([
    ('no polyp', 'no surveillance (screening)'),
    ('1-4 adenomas < 10 mm', 'no surveillance (screening)'),
    ('serrated (hyperplastic) polyps < 10 mm', 'no surveillance (screening)'),
    ('>= 5 adenomas', '3y'),
    ('adenoma >= 10 mm', '3y'),
    ('serrated (hyperplastic) polyp >= 10 mm', '3y'),
    ('invasive cancer (outside the table)', CANCER_PATHWAY),
])


def _check(lesions: Sequence[Lesion]) -> None:
    for size, kind in lesions:
        if kind not in KINDS:
            raise ValueError(f'lesion kind {kind!r} is not one of {KINDS}')
        if not size >= 0:
            raise ValueError(f'lesion size {size!r} mm is not a size')


def shortest(intervals: Sequence[str]) -> str:
    """The shortest interval of ``intervals`` (:data:`RANK` order)."""
    return min(intervals, key=RANK.__getitem__)


def usmstf_2020_findings(lesions: Sequence[Lesion]) -> list:
    """The rows of :data:`USMSTF_2020_TABLE` that ``lesions`` meet."""
    _check(lesions)
    adenomas = [s for s, k in lesions if k == ADENOMA]
    hps = [s for s, k in lesions if k == NON_NEOPLASTIC]
    rows = []
    if any(k == CANCER for _, k in lesions):
        rows.append('invasive cancer (outside the table)')
    if len(adenomas) > 10:
        rows.append('> 10 adenomas')
    if any(s >= 10 for s in adenomas):
        rows.append('adenoma >= 10 mm')
    n = len(adenomas)
    if adenomas and max(adenomas) < 10:
        if 5 <= n <= 10:
            rows.append('5-10 tubular adenomas < 10 mm')
        elif 3 <= n <= 4:
            rows.append('3-4 tubular adenomas < 10 mm')
        elif 1 <= n <= 2:
            rows.append('1-2 tubular adenomas < 10 mm')
    if len(hps) >= 20:
        rows.append('>= 20 hyperplastic polyps (serrated polyposis '
                    'criteria)')
    if any(s >= 10 for s in hps):
        rows.append('hyperplastic polyp >= 10 mm')
    elif hps:
        rows.append('< 20 hyperplastic polyps < 10 mm')
    if not lesions:
        rows.append('normal colonoscopy')
    return rows


def usmstf_2020(lesions: Sequence[Lesion]) -> str:
    """Surveillance interval after polypectomy, US Multi-Society Task
    Force 2020 (Gupta et al., Gastroenterology 2020;158:1131-1153,
    Table 2).

    Rows used (:data:`USMSTF_2020_TABLE`): normal colonoscopy or < 20
    hyperplastic polyps < 10 mm: 10 years; 1-2 tubular adenomas < 10 mm:
    7-10 years; 3-4 < 10 mm: 3-5 years; 5-10 < 10 mm: 3 years; adenoma
    >= 10 mm: 3 years; > 10 adenomas: 1 year; hyperplastic polyp >= 10 mm:
    3-5 years; >= 20 hyperplastic polyps: serrated polyposis work-up; an
    invasive cancer leaves the table (cancer pathway). Adenoma counts
    include the large ones; the shortest applicable interval wins.

    Args:
        lesions (Sequence[Tuple[float, str]]): ``(size_mm, kind)`` of every
            lesion of one patient.

    Returns:
        str: An interval label of :data:`RANK`.
    """
    return shortest(
        [USMSTF_2020_TABLE[r] for r in usmstf_2020_findings(lesions)])


def esge_2020_findings(lesions: Sequence[Lesion]) -> list:
    """The rows of :data:`ESGE_2020_TABLE` that ``lesions`` meet."""
    _check(lesions)
    adenomas = [s for s, k in lesions if k == ADENOMA]
    hps = [s for s, k in lesions if k == NON_NEOPLASTIC]
    rows = []
    if any(k == CANCER for _, k in lesions):
        rows.append('invasive cancer (outside the table)')
    if len(adenomas) >= 5:
        rows.append('>= 5 adenomas')
    if any(s >= 10 for s in adenomas):
        rows.append('adenoma >= 10 mm')
    elif 1 <= len(adenomas) <= 4:
        rows.append('1-4 adenomas < 10 mm')
    if any(s >= 10 for s in hps):
        rows.append('serrated (hyperplastic) polyp >= 10 mm')
    elif hps:
        rows.append('serrated (hyperplastic) polyps < 10 mm')
    if not lesions:
        rows.append('no polyp')
    return rows


def esge_2020(lesions: Sequence[Lesion]) -> str:
    """Surveillance interval after polypectomy, ESGE 2020 (Hassan et al.,
    Endoscopy 2020;52:687-700, Recommendations 1-3 and Figure 1).

    Rows used (:data:`ESGE_2020_TABLE`): high risk, surveillance
    colonoscopy at 3 years: >= 5 adenomas, an adenoma >= 10 mm, a serrated
    polyp >= 10 mm (ecdl_mm's non-neoplastic class is taken as
    hyperplastic/serrated); low risk, no surveillance (back to screening):
    1-4 adenomas < 10 mm, serrated polyps < 10 mm; an invasive cancer
    leaves the table (cancer pathway). Piecemeal resection >= 20 mm
    (3-6 month site check) and dysplasia need histology details the
    classes do not carry.

    Args:
        lesions (Sequence[Tuple[float, str]]): ``(size_mm, kind)``.

    Returns:
        str: An interval label of :data:`RANK`.
    """
    return shortest([ESGE_2020_TABLE[r] for r in esge_2020_findings(lesions)])


GUIDELINES: Dict[str, Callable[[Sequence[Lesion]], str]] = OrderedDict(
    usmstf2020=usmstf_2020, esge2020=esge_2020)
GUIDELINE_NAMES = OrderedDict(
    usmstf2020='US Multi-Society Task Force 2020 (Gupta et al., '
    'Gastroenterology 2020;158:1131-1153, Table 2)',
    esge2020='ESGE 2020 (Hassan et al., Endoscopy 2020;52:687-700)')


def surveillance_interval(lesions: Sequence[Lesion],
                          guideline: str = 'usmstf2020') -> str:
    """The interval of ``guideline`` (``'usmstf2020'`` or
    ``'esge2020'``) for one patient's lesions."""
    if guideline not in GUIDELINES:
        raise ValueError(f'guideline {guideline!r} is not one of '
                         f'{", ".join(GUIDELINES)}')
    return GUIDELINES[guideline](lesions)

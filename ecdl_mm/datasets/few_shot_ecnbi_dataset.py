# Copyright (c) ecdl_mm contributors. All rights reserved.
"""k labelled lesions per class from a new cohort (few-shot adaptation)."""
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmpretrain.registry import DATASETS

from .ecnbi_dataset import ECNBIDataset

SUBSETS = ('support', 'query')


def sample_k_shot(
    lesions: Mapping[str, Tuple[int, Optional[str]]],
    shots: int,
    seed: int,
    num_classes: Optional[int] = None,
    class_names: Optional[Sequence[str]] = None
) -> Tuple[List[str], List[str]]:
    """Draw ``shots`` lesions of every class; the rest is the query set.

    Lesions are the unit: a lesion is in the support set with all its images
    or not at all. Patient-aware: a lesion of a patient who has a support
    lesion is in neither set (it would leak that patient into the test), so
    the query set holds only patients never seen in training. A lesion
    without a patient id is its own patient.

    The draw depends only on ``seed`` and the set of lesions (they are
    sorted first), not on the order they are given in.

    Args:
        lesions (Mapping[str, tuple]): Lesion id to ``(label, patient_id)``.
        shots (int): Lesions per class, >= 1.
        seed (int): Seed of the draw.
        num_classes (int, optional): Every class in ``range(num_classes)``
            must have ``shots`` lesions. Defaults to None (the labels seen).
        class_names (Sequence[str], optional): Names for error messages.

    Returns:
        tuple[list[str], list[str]]: The support and query lesion ids, each
        sorted.

    Raises:
        ValueError: If ``shots`` is not a positive integer or a class has
            fewer than ``shots`` lesions.
    """
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) \
            or shots < 1:
        raise ValueError(f'shots={shots!r} must be a positive integer')
    by_class: Dict[int, List[str]] = {}
    for lesion in sorted(lesions):
        by_class.setdefault(int(lesions[lesion][0]), []).append(lesion)
    labels = range(num_classes) if num_classes is not None else sorted(
        by_class)
    rng = np.random.default_rng(seed)
    support = []
    for label in labels:
        pool = by_class.get(label, [])
        if shots > len(pool):
            name = (
                class_names[label]
                if class_names is not None else f'class {label}')
            raise ValueError(f'shots={shots} is more than the {len(pool)} '
                             f'lesion(s) of {name}')
        picked = rng.choice(len(pool), size=shots, replace=False)
        support.extend(pool[i] for i in sorted(picked))

    def patient(lesion):
        pid = lesions[lesion][1]
        return ('patient', pid) if pid is not None else ('lesion', lesion)

    seen = {patient(lesion) for lesion in support}
    chosen = set(support)
    query = [
        lesion for lesion in sorted(lesions)
        if lesion not in chosen and patient(lesion) not in seen
    ]
    return sorted(support), query


@DATASETS.register_module()
class FewShotECNBIDataset(ECNBIDataset):
    """An :class:`ECNBIDataset` cut into k labelled lesions per class
    (``support``, to adapt on) and the rest of the cohort (``query``, to
    test on), as a new centre with few labels would be.

    Build it twice with the same ``shots`` and ``seed`` and the two
    subsets: they partition the cohort by lesion and by patient (see
    :func:`sample_k_shot`; lesions of a support patient are in neither).

    Args:
        shots (int): Labelled lesions per class in the support set.
        seed (int): Seed of the draw. Defaults to 0.
        subset (str): ``'support'`` or ``'query'``. Defaults to
            ``'support'``.
        **kwargs: The arguments of :class:`ECNBIDataset` (``data_root``,
            ``ann_file``, ``sheet_name``, ``pipeline``, ...), which give the
            whole new cohort.
    """

    def __init__(self,
                 *args,
                 shots: int,
                 seed: int = 0,
                 subset: str = 'support',
                 **kwargs):
        if subset not in SUBSETS:
            raise ValueError(f'subset={subset!r} is not one of {SUBSETS}')
        if isinstance(shots, bool) or not isinstance(shots, int) or \
                shots < 1:
            raise ValueError(f'shots={shots!r} must be a positive integer')
        self.shots = shots
        self.seed = seed
        self.subset = subset
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        lesions = OrderedDict()
        for info in data_list:
            lesions[info['lesion_id']] = (info['gt_label'], info['patient_id'])
        classes = self.metainfo['classes']
        support, query = sample_k_shot(lesions, self.shots, self.seed,
                                       len(classes), classes)
        keep = set(support if self.subset == 'support' else query)
        return [info for info in data_list if info['lesion_id'] in keep]

    def extra_repr(self) -> List[str]:
        body = super().extra_repr()
        body.append(f'Few-shot: \t{self.subset}, {self.shots} lesion(s) per '
                    f'class, seed {self.seed}')
        return body

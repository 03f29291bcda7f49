# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The study definition of the reader-study app: a YAML file read into a
:class:`Study` (lesions with their images, readers, sessions, answer form
and, for the assisted session, the model's calibrated predictions).

Example (``tools/analysis/reader_app.py --demo`` writes one)::

    title: EC-NBI reader study
    db: reads.sqlite              # relative to this file; one file per study
    admin_secret: <random>        # the admin pages' link
    seed: 0                       # mixed into the secret reading orders
    lesions:                      # a split sheet and its data_root ...
      data_root: /data/ecdl-demo
      split: /data/ecdl-demo/dataset_divide.xlsx
      sheet: demo_test
      # ... or the model's predictions and the data_root holding the images:
      # predictions: lesion_predictions.csv
    model:                        # shown in the assisted session
      predictions: lesion_predictions.csv
      operating_point: op.json    # optional: temperature + uncertain flag
      note: ''                    # shown to the admin (e.g. SIMULATED)
    readers:
      - {id: E1, group: expert, secret: <random>}
    sessions:
      design: crossover           # or sequential (first read, AI, final)
      washout_days: 14            # crossover: unassisted -> assisted
    answer:
      labels: {adenomas: Adenoma} # optional display names
      confidence: [1, 2, 3, 4, 5]
      confidence_labels: {1: guess, 5: certain}

Lesion ids are those of :class:`ecdl_mm.datasets.ECNBIDataset` and of the
model's ``lesion_predictions.csv`` (``'<cohort>/<lesion_index>'``, e.g.
``'ecdl-demo/730'``), so the exported ``readers.csv`` pairs with the model
file in ``tools/analysis/reader_study.py``.
"""
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..evaluation.clinical.predictions import (LesionPredictions,
                                               StudyDataError,
                                               load_lesion_predictions)

DESIGNS = ('crossover', 'sequential')
#: Sessions of each design, in reading order. A sequential session stores a
#: ``first`` and a ``final`` read per lesion.
DESIGN_SESSIONS = {
    'crossover': ('unassisted', 'assisted'),
    'sequential': ('sequential', ),
}
#: Session names of the exported reads of the sequential design.
SEQUENTIAL_EXPORT = {'first': 'sequential-first', 'final': 'sequential-final'}
_ID = re.compile(r'^[A-Za-z0-9_.-]{1,64}$')


class StudyError(StudyDataError):
    """A study definition that cannot be run; the message names the file and
    the field, lesion or reader."""


@dataclass
class Lesion:
    """One lesion of the study.

    Attributes:
        lesion_id (str): ``'<cohort>/<lesion_index>'``, as in the model file.
        target (int): True class index (never shown).
        images (List[str]): Image paths (never shown).
    """
    lesion_id: str
    target: int
    images: List[str]


@dataclass
class Reader:
    reader_id: str
    group: str
    secret: str


@dataclass
class Study:
    """A validated reader study.

    Attributes:
        path (str): The YAML file.
        title (str): Shown on every page.
        db_path (str): The SQLite file of the reads.
        admin_secret (str): The admin pages' secret.
        seed (int): Mixed into the secret reading orders (:mod:`.blinding`).
        classes (Tuple[str, ...]): Class names (the model's order).
        labels (Dict[str, str]): Display name of each class.
        confidence (List[int]): The confidence scale, lowest first.
        confidence_labels (Dict[int, str]): Optional words for scale points.
        lesions (List[Lesion]): In the model file's (else the sheet's) order.
        readers (List[Reader]): In file order.
        design (str): ``'crossover'`` or ``'sequential'``.
        washout_days (float): Minimum days between a reader's last
            unassisted read and their first assisted one (crossover).
        model (LesionPredictions, optional): The model's predictions of the
            study's lesions, in lesion order.
        model_probs (np.ndarray, optional): ``(L, C)`` calibrated
            probabilities (temperature of the operating point, if any).
        model_uncertain (np.ndarray, optional): ``(L, )`` bool.
        model_note (str): Free text about the model (e.g. SIMULATED).
        operating_point (str, optional): Its file, when given.
        bootstrap_rounds (int): Bootstrap rounds of the analysis run.
    """
    path: str
    title: str
    db_path: str
    admin_secret: str
    seed: int
    classes: Tuple[str, ...]
    labels: Dict[str, str]
    confidence: List[int]
    confidence_labels: Dict[int, str]
    lesions: List[Lesion]
    readers: List[Reader]
    design: str = 'crossover'
    washout_days: float = 14.0
    model: Optional[LesionPredictions] = None
    model_probs: Optional[np.ndarray] = None
    model_uncertain: Optional[np.ndarray] = None
    model_note: str = ''
    operating_point: Optional[str] = None
    bootstrap_rounds: int = 2000
    lesion_index: Dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.lesion_index = {
            les.lesion_id: i
            for i, les in enumerate(self.lesions)
        }

    @property
    def sessions(self) -> Tuple[str, ...]:
        return DESIGN_SESSIONS[self.design]

    def phases(self, session: str) -> Tuple[str, ...]:
        """The reads stored per lesion in ``session``."""
        return ('first', 'final') if session == 'sequential' else ('final', )

    def shows_model(self, session: str, phase: str) -> bool:
        return (session == 'assisted'
                or (session == 'sequential' and phase == 'final'))

    def export_session(self, session: str, phase: str) -> str:
        """The session name of a read in ``readers.csv``."""
        if session == 'sequential':
            return SEQUENTIAL_EXPORT[phase]
        return session

    def analysis_sessions(self) -> Tuple[str, str]:
        if self.design == 'sequential':
            return SEQUENTIAL_EXPORT['first'], SEQUENTIAL_EXPORT['final']
        return 'unassisted', 'assisted'

    def reader(self, reader_id: str) -> Reader:
        return {r.reader_id: r for r in self.readers}[reader_id]

    def fingerprint(self) -> str:
        """What the reads database is tied to: the lesions and the design
        (changing them under an existing database is refused; readers may
        be added)."""
        import hashlib
        text = '\n'.join([self.design] +
                         [les.lesion_id for les in self.lesions])
        return hashlib.sha256(text.encode()).hexdigest()


def _need(cond: bool, path: str, msg: str):
    if not cond:
        raise StudyError(f'{path}: {msg}')


def _resolve(base: str, value: Optional[str]) -> Optional[str]:
    if value in (None, ''):
        return None
    value = osp.expanduser(str(value))
    return value if osp.isabs(value) else osp.normpath(osp.join(base, value))


def load_study(path: str) -> Study:
    """Read and check a study YAML file (see the module docstring).

    Raises:
        StudyError: Naming the file and the field: a missing or malformed
            field, a duplicated reader id or secret, a lesion sheet that
            disagrees with the model's predictions (lesions missing on either
            side, or different true classes), a missing or unreadable image
            (from :class:`ecdl_mm.datasets.ECNBIDataset`), an operating point
            for other classes.
    """
    import yaml
    if not osp.isfile(path):
        raise StudyError(f'study file {path} not found')
    with open(path, encoding='utf-8') as f:
        try:
            cfg = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise StudyError(f'{path} is not valid YAML: {e}') from None
    _need(isinstance(cfg, dict), path, 'must hold a mapping')
    base = osp.dirname(osp.abspath(path))

    # ----------------------------------------------------------- the model
    model_cfg = cfg.get('model') or {}
    _need(isinstance(model_cfg, dict), path, 'model must be a mapping')
    lesion_cfg = cfg.get('lesions')
    _need(
        isinstance(lesion_cfg, dict), path,
        'lesions must be a mapping with data_root and split (+ sheet) or '
        'predictions')
    model_csv = _resolve(base, model_cfg.get('predictions'))
    _need(
        model_csv is not None, path,
        'model.predictions (a lesion_predictions.csv) is required: the '
        "assisted session shows the model's answer")
    model = load_lesion_predictions(model_csv)
    from ecdl_mm.datasets import ECNBIDataset
    classes = tuple(
        model.classes if model else cfg.get('classes', ECNBIDataset.
                                            METAINFO['classes']))

    # --------------------------------------------------------- the lesions
    from .study_lesions import study_lesions
    lesions = study_lesions(path, base, lesion_cfg, model, model_csv, classes)

    # ------------------------------------------------- calibrated outputs
    probs = uncertain = None
    op_path = _resolve(base, model_cfg.get('operating_point'))
    if model is not None:
        from ecdl_mm.evaluation.operating_point import (OperatingPoint,
                                                        OperatingPointError)
        try:
            op = (
                OperatingPoint.load(op_path) if op_path else OperatingPoint(
                    classes=list(classes)))
            op.check_classes(classes, where=f'model file {model_csv}')
        except OperatingPointError as e:
            raise StudyError(f'{path}: model.operating_point: {e}') from None
        probs = op.calibrate(model.scores)
        uncertain = op.is_uncertain(probs,
                                    [len(les.images) for les in lesions])

    # --------------------------------------------------------- the readers
    readers_cfg = cfg.get('readers')
    _need(
        isinstance(readers_cfg, list) and readers_cfg, path,
        'readers must be a non-empty list of {id, group, secret}')
    readers, ids, secrets = [], set(), set()
    for i, r in enumerate(readers_cfg):
        where = f'readers[{i}]'
        _need(isinstance(r, dict), path, f'{where} must be a mapping')
        rid, group, secret = (
            str(r.get(k, '')).strip() for k in ('id', 'group', 'secret'))
        _need(
            bool(_ID.match(rid)), path,
            f'{where}.id={rid!r} must be 1-64 letters, digits, ., _ or -')
        _need(bool(group), path, f'{where} ({rid}) has no group')
        _need(
            len(secret) >= 16 and bool(re.match(r'^[A-Za-z0-9_-]+$', secret)),
            path, f'{where} ({rid}): secret must be >= 16 URL-safe characters')
        _need(rid not in ids, path, f'reader id {rid!r} is listed twice')
        _need(secret not in secrets, path,
              f'{where} ({rid}) shares its secret with another reader')
        ids.add(rid)
        secrets.add(secret)
        readers.append(Reader(rid, group, secret))

    admin = str(cfg.get('admin_secret', '')).strip()
    _need(
        len(admin) >= 16 and admin not in secrets, path,
        'admin_secret must be >= 16 characters, distinct from the '
        "readers' secrets")

    sess = cfg.get('sessions') or {}
    design = sess.get('design', 'crossover')
    _need(design in DESIGNS, path,
          f'sessions.design={design!r} must be one of {DESIGNS}')
    washout = sess.get('washout_days', 14)
    _need(
        isinstance(washout, (int, float)) and washout >= 0, path,
        f'sessions.washout_days={washout!r} must be a number >= 0')

    ans = cfg.get('answer') or {}
    labels = {c: c.replace('_', ' ').capitalize() for c in classes}
    labels.update({
        str(k): str(v)
        for k, v in (ans.get('labels') or {}).items()
    })
    unknown = [k for k in labels if k not in classes]
    _need(
        not unknown, path,
        f'answer.labels names unknown class(es) {unknown} (classes: '
        f'{", ".join(classes)})')
    conf = ans.get('confidence', [1, 2, 3, 4, 5])
    _need(
        isinstance(conf, list) and len(conf) >= 2
        and all(isinstance(c, int)
                for c in conf) and conf == sorted(set(conf)), path,
        f'answer.confidence={conf!r} must be >= 2 increasing integers')
    conf_labels = {
        int(k): str(v)
        for k, v in (ans.get('confidence_labels') or {}).items()
    }

    db = _resolve(
        base, cfg.get('db')) or osp.splitext(osp.abspath(path))[0] + '.sqlite'
    rounds = (cfg.get('analysis') or {}).get('bootstrap_rounds', 2000)
    return Study(
        path=osp.abspath(path),
        title=str(cfg.get('title', 'Reader study')),
        db_path=db,
        admin_secret=admin,
        seed=int(cfg.get('seed', 0)),
        classes=classes,
        labels=labels,
        confidence=conf,
        confidence_labels=conf_labels,
        lesions=lesions,
        readers=readers,
        design=design,
        washout_days=float(washout),
        model=model,
        model_probs=probs,
        model_uncertain=uncertain,
        model_note=str(model_cfg.get('note', '')),
        operating_point=op_path,
        bootstrap_rounds=int(rounds))

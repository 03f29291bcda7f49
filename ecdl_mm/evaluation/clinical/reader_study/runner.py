# Copyright (c) ecdl_mm contributors. All rights reserved.
""":func:`run_reader_study`: every table of a reader study, in one call."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence

from ..predictions import LesionPredictions
from .bootstrap import _make_study, bootstrap_study
from .reads import ReaderReads, resolve_sessions
from .tables import (_check_foms, _fom_name, _reader_values, agreement_table,
                     group_table, model_table, model_vs_readers_table,
                     mrmc_table, reader_table, session_table)


def run_reader_study(model: LesionPredictions,
                     reads: ReaderReads,
                     sessions: Optional[Sequence[str]] = None,
                     foms: Optional[Sequence[str]] = None,
                     bootstrap_rounds: int = 2000,
                     seed: int = 0,
                     ci_level: float = 0.95,
                     exact_below: int = 25) -> Dict[str, object]:
    """All analyses of a reader study, JSON-ready.

    * ``model``: the model on the lesions read (:func:`model_table`).
    * ``reader_metrics``: accuracy and per-class sensitivity and
      specificity of every reader and session (:func:`reader_table`).
    * ``group_metrics``: the same averaged over the readers of each group
      (and all readers), lesion-bootstrap intervals (a resample keeps all
      reads of a lesion together; :func:`group_table`).
    * ``model_vs_readers``: :func:`model_vs_readers_table`.
    * ``session_comparison`` (when two sessions are compared):
      :func:`session_table`; ``mrmc``: :func:`mrmc_table`.
    * ``agreement``: :func:`agreement_table`.

    Args:
        model (LesionPredictions): The model's predictions (a superset of
            the lesions read).
        reads (ReaderReads): From :func:`load_readers`.
        sessions (Sequence[str], optional): ``(reference, new)`` sessions
            to compare; see :func:`resolve_sessions`.
        foms (Sequence[str], optional): MRMC figures of merit among
            ``accuracy``, ``sensitivity``, ``specificity``, ``auc`` (the
            per-class ones run for every class). Defaults to all, ``auc``
            only with confidences.
        bootstrap_rounds (int): Lesion-bootstrap resamples.
            Defaults to 2000.
        seed (int): Bootstrap seed. Defaults to 0.
        ci_level (float): Interval level. Defaults to 0.95.
        exact_below (int): McNemar exact-test threshold. Defaults to 25.
    """
    pair = resolve_sessions(reads, sessions)
    foms = _check_foms(foms, reads, pair)
    classes = reads.classes
    st = _make_study(model, reads, ci_level, exact_below)
    boot_model, boot_reader = bootstrap_study(st, bootstrap_rounds, seed)
    model_rows = model_table(st, boot_model)
    reader_rows = reader_table(st)
    reader_values = _reader_values(st, reader_rows)
    group_rows, group_boot = group_table(st, reader_values, boot_reader)
    vs_rows = model_vs_readers_table(st, model_rows, reader_values, group_rows,
                                     boot_model, boot_reader, group_boot)
    session_rows, mrmc_rows = [], []
    if pair is not None:
        session_rows = session_table(st, pair, reader_values, boot_reader)
        mrmc_rows = mrmc_table(st, pair, foms)

    return OrderedDict(
        classes=list(classes),
        model_path=model.path,
        readers_path=reads.path,
        num_lesions=len(reads.lesion_ids),
        class_counts={
            c: int((st.target == k).sum())
            for k, c in enumerate(classes)
        },
        readers=[dict(reader=r, group=reads.groups[r]) for r in reads.readers],
        sessions=reads.sessions,
        compared_sessions=list(pair) if pair else None,
        has_confidence=reads.confidence is not None,
        settings=dict(
            bootstrap_rounds=bootstrap_rounds,
            seed=seed,
            ci_level=ci_level,
            mcnemar_exact_below=exact_below,
            mrmc_foms=[_fom_name(f, k, classes) for f, k in foms]),
        model=model_rows,
        reader_metrics=reader_rows,
        group_metrics=group_rows,
        model_vs_readers=vs_rows,
        session_comparison=session_rows,
        mrmc=mrmc_rows,
        agreement=agreement_table(st))

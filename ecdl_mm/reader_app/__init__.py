# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The reader-study web app: collects blinded reads (unassisted, then
assisted after a wash-out, or sequential) and exports them as the
``readers.csv`` that :func:`ecdl_mm.evaluation.clinical.load_readers` and
``tools/analysis/reader_study.py`` read. Served by
``tools/analysis/reader_app.py``."""
from .app import ReaderApp, create_app, make_server, reader_links
from .demo import simulated_predictions, write_demo_study
from .store import EXPORT_COLUMNS, ReadStore
from .study import Lesion, Reader, Study, StudyError, load_study

__all__ = [
    'Study', 'Lesion', 'Reader', 'StudyError', 'load_study', 'ReadStore',
    'EXPORT_COLUMNS', 'ReaderApp', 'create_app', 'make_server', 'reader_links',
    'write_demo_study', 'simulated_predictions'
]

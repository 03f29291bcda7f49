# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Moved to :mod:`ecdl_mm.reader_app` (this path works until the next
release); its names are served from there with a ``DeprecationWarning``."""
from ecdl_mm.utils.deprecation import moved_names

__getattr__ = moved_names(
    __name__, {
        name: 'ecdl_mm.reader_app'
        for name in ('Study', 'Lesion', 'Reader', 'StudyError', 'load_study',
                     'ReadStore', 'EXPORT_COLUMNS', 'ReaderApp', 'create_app',
                     'make_server', 'reader_links', 'write_demo_study',
                     'simulated_predictions')
    })

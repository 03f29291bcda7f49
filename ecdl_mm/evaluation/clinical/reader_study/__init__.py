# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Reader studies: endoscopists against the model, reading without against
with AI assistance (multi-reader multi-case), inter-reader agreement.

Split by step: :mod:`.reads` (loading), :mod:`.bootstrap` (arrays and
resampling), :mod:`.tables`, :mod:`.runner`; every name is importable from
here as before."""
from .bootstrap import (_boot_rates, _make_study, _rate_counts, _Study,
                        bootstrap_study, consensus, interval_row,
                        rate_metric_names)
from .constants import ALL_READERS, FOM_KINDS, READER_COLUMNS
from .reads import ReaderReads, load_readers, resolve_sessions
from .runner import run_reader_study
from .tables import (_check_foms, _fom_name, _mrmc_row, _paired,
                     _reader_values, agreement_table, group_table, model_table,
                     model_vs_readers_table, mrmc_table, reader_table,
                     session_table)

__all__ = [
    'ALL_READERS', 'FOM_KINDS', 'READER_COLUMNS', 'ReaderReads',
    'load_readers', 'resolve_sessions', 'rate_metric_names', 'consensus',
    'interval_row', 'bootstrap_study', 'model_table', 'reader_table',
    'group_table', 'model_vs_readers_table', 'session_table', 'mrmc_table',
    'agreement_table', 'run_reader_study'
]

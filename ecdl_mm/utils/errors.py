# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Errors shared by every layer (defined low so that ``utils`` never imports
upwards; re-exported where users met them first)."""


class ConfigError(ValueError):
    """A config field (or a ``--cfg-options`` key) holds a value that cannot
    work."""


class DataError(ValueError):
    """The data cannot be read as the config asks: a split sheet (missing
    column or sheet, bad cell, class that disagrees with the dataset, lesion
    listed twice, leakage between splits) or the folder layout and images
    it points to. A user mistake: ``tools/`` end it with one line
    (:func:`ecdl_mm.utils.cli.run_cli`)."""


__all__ = ['ConfigError', 'DataError']

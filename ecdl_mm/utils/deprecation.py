# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Old import paths kept for one release after a module moved.

A module that moved leaves a two-line file at its old path that calls
:func:`moved_module`: importing the old path warns once
(``DeprecationWarning``, naming the new path) and hands back the new module
object itself, so ``import``, ``from ... import name`` and monkeypatching
behave exactly as on the new path. The layering test
(``tests/test_layering.py``) skips these files: the new module is imported
lazily, by name, when the old path is used.
"""
import importlib
import sys
import warnings

#: Old module path -> new module path, filled by :func:`moved_module`.
MOVED = {}


def moved_module(old: str, new: str) -> None:
    """Make the module ``old`` (being imported) an alias of ``new``.

    Args:
        old (str): The old dotted path (pass ``__name__``).
        new (str): The dotted path the module now lives at.
    """
    MOVED[old] = new
    warnings.warn(
        f'{old} moved to {new}; the old path works until the next release',
        DeprecationWarning,
        stacklevel=3)
    sys.modules[old] = importlib.import_module(new)


def moved_names(package: str, names: dict):
    """A module ``__getattr__`` for names that moved out of ``package``.

    Args:
        package (str): The package whose ``__init__`` re-exports (pass
            ``__name__``).
        names (dict): Name -> the module that now defines it.

    Returns:
        callable: ``__getattr__(name)`` that warns once per use and returns
        the object from its new module.
    """

    def __getattr__(name):
        if name not in names:
            raise AttributeError(
                f'module {package!r} has no attribute {name!r}')
        warnings.warn(
            f'{package}.{name} moved to {names[name]}.{name}; the old '
            'path works until the next release',
            DeprecationWarning,
            stacklevel=2)
        return getattr(importlib.import_module(names[name]), name)

    return __getattr__

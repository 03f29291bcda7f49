# Copyright (c) ecdl_mm contributors. All rights reserved.
"""``--cfg-options``, the same in every tool.

Every entry point in ``tools/`` that takes ``--cfg-options`` adds it with
:func:`add_cfg_options` (mmengine's ``DictAction``, ``nargs='+'``, the help
text of mmpretrain's tools) and merges it with :func:`merge_cfg_options`:
the keys are checked against the config first (:func:`check_cfg_options`),
then merged as mmengine's ``Config.merge_from_dict`` does. A key mmengine
would silently add as a typo, or fail on with a traceback (a key through a
section that is ``None``, a list index out of range), ends the run with one
line naming the key and the nearest valid one::

    train.py: error: Invalid --cfg-options: train_cfg.max_epoch: train_cfg
    has no key 'max_epoch'; nearest valid key: train_cfg.max_epochs
    (--debug shows the traceback)

A new key stays possible where it can work: an argument the section's
class takes (``test_evaluator.0.out_dir``), a new top-level section or
Runner argument, or a key of a section without ``type`` (or of a class with
``**kwargs``) that is no near miss of a key it holds.
"""
import argparse
import difflib
import inspect
from typing import Any, Dict, List, Optional

from mmengine.config import Config, DictAction
from mmpretrain.registry import (BATCH_AUGMENTS, DATA_SAMPLERS, DATASETS,
                                 EVALUATORS, HOOKS, LOG_PROCESSORS, LOOPS,
                                 METRICS, MODELS, OPTIM_WRAPPERS, OPTIMIZERS,
                                 PARAM_SCHEDULERS, TRANSFORMS, VISBACKENDS,
                                 VISUALIZERS)

from .errors import ConfigError

#: The help text of ``--cfg-options`` in mmpretrain's tools.
CFG_OPTIONS_HELP = (
    'override some settings in the used config, the key-value pair '
    'in xxx=yyy format will be merged into config file. If the value to '
    'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
    'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
    'Note that the quotation marks are necessary and that no white space '
    'is allowed.')


def add_cfg_options(parser: argparse.ArgumentParser,
                    note: str = '') -> argparse.Action:
    """Add ``--cfg-options`` to ``parser`` as mmpretrain's tools do
    (``nargs='+'``, ``action=DictAction``: ``args.cfg_options`` is a dict
    of dotted keys, or None).

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        note (str): A sentence appended to the help text, e.g. that the
            options apply to every config of the run. Defaults to ''.

    Returns:
        argparse.Action: The added argument.
    """
    return parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help=CFG_OPTIONS_HELP + ' Keys are checked against the config (a '
        'typo stops the run naming the nearest valid key).' +
        (f' {note}' if note else ''))


# Registries searched for the class of a ``type`` reached by a
# --cfg-options key (the first that knows the name wins).
_OPTION_REGISTRIES = (MODELS, DATASETS, METRICS, HOOKS, TRANSFORMS,
                      DATA_SAMPLERS, OPTIM_WRAPPERS, OPTIMIZERS,
                      PARAM_SCHEDULERS, LOOPS, EVALUATORS, VISUALIZERS,
                      VISBACKENDS, LOG_PROCESSORS, BATCH_AUGMENTS)


def _accepted_arguments(section: dict) -> Optional[List[str]]:
    """The keyword arguments the class of ``section['type']`` takes; None
    when unknown (no ``type``, not registered, or ``**kwargs``)."""
    typ = section.get('type')
    obj = typ
    if isinstance(typ, str):
        obj = None
        for registry in _OPTION_REGISTRIES:
            try:
                obj = registry.get(typ)
            except Exception:  # a scope prefix of another package
                obj = None
            if obj is not None:
                break
    if obj is None or not callable(obj):
        return None
    try:
        params = inspect.signature(
            obj.__init__ if inspect.isclass(obj) else obj).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return None
    return [n for n in params if n != 'self']


def _runner_arguments() -> List[str]:
    from mmengine.runner import Runner
    return [
        n for n in inspect.signature(Runner.__init__).parameters if n != 'self'
    ]


def _option_problem(cfg, key: str) -> Optional[str]:
    """Why the ``--cfg-options`` key ``key`` cannot work on ``cfg``, or
    None."""
    parts = key.split('.')
    node: Any = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for i, part in enumerate(parts):
        here = '.'.join(parts[:i])
        prefix = here + '.' if here else ''
        if isinstance(node, (list, tuple)):
            if part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            return (f'{here} is a list of {len(node)} item(s): {part!r} is '
                    f'not one of its indices (0 to {len(node) - 1})')
        if not isinstance(node, dict):
            what = ('None (this config has no such section, e.g. no '
                    'validation loop)'
                    if node is None else f'{str(node)[:60]!r}, not a dict')
            return f'{here} is {what}, so it has no key {part!r}'
        if part in node:
            node = node[part]
            continue
        # a key the config does not hold yet: fine when the component (or,
        # at the top, the Runner) takes it; a near miss of a key it holds or
        # takes is a typo
        known = [str(k) for k in node]
        accepted = (
            _runner_arguments() if i == 0 else _accepted_arguments(node))
        if accepted is not None and part in accepted:
            return None
        candidates = sorted(set(known + (accepted or [])))
        close = difflib.get_close_matches(part, candidates, n=1)
        strict = i > 0 and accepted is not None
        if not close and not strict:
            return None  # a new section or argument, taken as it is
        where = (f'{here}' if here else 'the config') + (
            f' ({node["type"]})' if isinstance(node.get('type'), str) else '')
        hint = f'; nearest valid key: {prefix}{close[0]}' if close else ''
        return f'{where} has no key {part!r}{hint}'
    return None


def check_cfg_options(cfg: Config,
                      options: Optional[Dict[str, Any]],
                      source: str = '--cfg-options') -> None:
    """Check ``--cfg-options`` keys against ``cfg`` before they are merged.

    mmengine's ``Config.merge_from_dict`` would fail with a traceback on a
    key through a section that is ``None`` (e.g. ``val_dataloader`` of a
    config without validation) and silently add a mistyped key, which then
    fails when the component is built (or is ignored). A key may name a new
    argument when the section's class takes it (e.g.
    ``test_evaluator.0.out_dir``) or, for a class with ``**kwargs`` or a
    section without ``type``, when it is not a near miss of an existing key.

    Args:
        cfg (Config): The config, before the options are merged.
        options (dict, optional): ``DictAction``'s dict of dotted keys.
        source (str): What the options are called in the error message.
            Defaults to ``'--cfg-options'``.

    Raises:
        ConfigError: One line per bad key, naming it and the nearest valid
            key.
    """
    errors = []
    for key in options or {}:
        problem = _option_problem(cfg, str(key))
        if problem:
            errors.append(f'{key}: {problem}')
    if errors:
        raise ConfigError(f'Invalid {source}:\n  - ' + '\n  - '.join(errors))


def merge_cfg_options(cfg: Config,
                      options: Optional[Dict[str, Any]],
                      source: str = '--cfg-options') -> Config:
    """Check ``options`` against ``cfg`` and merge them into it (in place).

    Args:
        cfg (Config): The config, before the options are merged.
        options (dict, optional): ``DictAction``'s dict of dotted keys;
            None or empty merges nothing.
        source (str): What the options are called in the error message.
            Defaults to ``'--cfg-options'``.

    Returns:
        Config: ``cfg``, with the options merged (mmengine's
        ``merge_from_dict``: list indices as keys allowed).

    Raises:
        ConfigError: Naming each bad key and the nearest valid one.
    """
    if options:
        check_cfg_options(cfg, options, source)
        cfg.merge_from_dict(options)
    return cfg


__all__ = [
    'CFG_OPTIONS_HELP', 'add_cfg_options', 'check_cfg_options',
    'merge_cfg_options'
]

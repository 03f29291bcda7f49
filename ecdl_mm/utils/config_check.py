# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Early validation of a merged config, before the Runner builds anything.

Mistakes that would otherwise surface minutes into a run (or as a registry
KeyError without a field name) are reported up front, each naming the config
field:

* a ``type`` that no registry knows (with a close match suggested),
* a ``data_root`` / ``ann_file`` that does not exist,
* ``num_classes`` that is not a positive integer or disagrees with the
  dataset's classes or with the data preprocessor,
* mixed-precision training (``AmpOptimWrapper``) on a machine without GPU,
* a ``SupervisedClusteringHead`` without ``ClassCenterHook`` in
  ``custom_hooks`` (its centres would never be computed), or the hook without
  that head.

:func:`~.cfg_options.check_cfg_options` (re-exported here) checks the
``--cfg-options`` keys against the config before they are merged.
"""
import difflib
import os.path as osp
from typing import List, Optional

from mmengine.config import Config
from mmengine.device import get_device
from mmengine.registry import Registry
from mmpretrain.registry import (DATA_SAMPLERS, DATASETS, HOOKS, METRICS,
                                 MODELS, OPTIM_WRAPPER_CONSTRUCTORS,
                                 OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS,
                                 TRANSFORMS)

from .cfg_options import check_cfg_options
from .errors import ConfigError


def _registry_keys(registry: Registry) -> List[str]:
    keys, reg = set(), registry
    while reg is not None:
        keys.update(reg.module_dict)
        reg = reg.parent
    return sorted(keys)


def _check_type(field: str, cfg, registry: Registry, errors: List[str]):
    if not isinstance(cfg, dict) or 'type' not in cfg:
        return
    typ = cfg['type']
    if not isinstance(typ, str):  # a class object given directly
        return
    if registry.get(typ) is not None:
        return
    name = typ.split('.')[-1]
    close = difflib.get_close_matches(name, _registry_keys(registry), n=3)
    hint = (f' Did you mean {", ".join(repr(c) for c in close)}?'
            if close else '')
    errors.append(f"{field}.type={typ!r} is not registered in the "
                  f"'{registry.scope}' {registry.name} registry.{hint}")


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _dataset_classes(dataset_cfg) -> Optional[tuple]:
    """Class names a dataset config will use, when they can be known."""
    metainfo = dataset_cfg.get('metainfo') or {}
    if isinstance(metainfo, dict) and metainfo.get('classes'):
        return tuple(metainfo['classes'])
    if dataset_cfg.get('classes'):
        classes = dataset_cfg['classes']
        return tuple(classes) if not isinstance(classes, str) else None
    dataset_cls = DATASETS.get(dataset_cfg.get('type', ''))
    meta = getattr(dataset_cls, 'METAINFO', None) or {}
    if meta.get('classes') and dataset_cls.__name__ != 'CustomDataset':
        return tuple(meta['classes'])
    return None


def _check_dataset(field: str, cfg, errors: List[str]) -> Optional[tuple]:
    _check_type(field, cfg, DATASETS, errors)
    if not isinstance(cfg, dict):
        return None
    if isinstance(cfg.get('dataset'), dict):  # dataset wrappers
        return _check_dataset(f'{field}.dataset', cfg['dataset'], errors)
    for i, sub in enumerate(_as_list(cfg.get('datasets'))):
        _check_dataset(f'{field}.datasets[{i}]', sub, errors)
    for i, step in enumerate(_as_list(cfg.get('pipeline'))):
        _check_type(f'{field}.pipeline[{i}]', step, TRANSFORMS, errors)

    data_root = cfg.get('data_root')
    if isinstance(data_root, str) and data_root and '://' not in data_root:
        if not osp.isdir(data_root):
            errors.append(f'{field}.data_root={data_root!r} is not a '
                          f'directory (resolved to {osp.abspath(data_root)})')
            return _dataset_classes(cfg)
    ann_file = cfg.get('ann_file')
    if isinstance(ann_file, str) and ann_file and '://' not in ann_file:
        path = ann_file if osp.isabs(ann_file) or not data_root else osp.join(
            data_root, ann_file)
        if not osp.isfile(path):
            errors.append(f'{field}.ann_file={ann_file!r} does not exist '
                          f'(looked for {osp.abspath(path)})')
    return _dataset_classes(cfg)


def _check_model(cfg, errors: List[str]) -> None:
    model = cfg.get('model')
    if not isinstance(model, dict):
        errors.append('model: the config has no model dict')
        return
    _check_type('model', model, MODELS, errors)
    for key in ('backbone', 'neck', 'head', 'data_preprocessor'):
        for i, sub in enumerate(_as_list(model.get(key))):
            name = f'model.{key}' + (f'[{i}]' if isinstance(
                model.get(key), (list, tuple)) else '')
            _check_type(name, sub, MODELS, errors)
            if isinstance(sub, dict):
                for loss_key in [k for k in sub if k.startswith('loss')]:
                    _check_type(f'{name}.{loss_key}', sub[loss_key], MODELS,
                                errors)


def _check_num_classes(cfg, classes_by_field, errors: List[str]) -> None:
    model = cfg.get('model') or {}
    head = model.get('head') if isinstance(model, dict) else None
    if not isinstance(head, dict) or 'num_classes' not in head:
        return
    num = head['num_classes']
    if not isinstance(num, int) or isinstance(num, bool) or num <= 0:
        errors.append(f'model.head.num_classes={num!r} must be a positive '
                      'integer')
        return
    pre = model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    pre_num = pre.get('num_classes') if isinstance(pre, dict) else None
    if pre_num is not None and pre_num != num:
        errors.append(f'model.head.num_classes={num} but '
                      f'data_preprocessor.num_classes={pre_num}')
    for field, classes in classes_by_field.items():
        if classes is not None and len(classes) != num:
            errors.append(f'model.head.num_classes={num} but {field} has '
                          f'{len(classes)} classes {list(classes)}')


def _type_name(cfg) -> str:
    typ = cfg.get('type') if isinstance(cfg, dict) else None
    if isinstance(typ, str):
        return typ.split('.')[-1]
    return getattr(typ, '__name__', '')


def _check_centre_pairing(cfg, errors: List[str]) -> None:
    """SupervisedClusteringHead and ClassCenterHook only work together."""
    model = cfg.get('model') or {}
    head = model.get('head') if isinstance(model, dict) else None
    has_head = _type_name(head) == 'SupervisedClusteringHead'
    hooks = [
        i for i, hook in enumerate(_as_list(cfg.get('custom_hooks')))
        if _type_name(hook) == 'ClassCenterHook'
    ]
    if has_head and not hooks:
        errors.append(
            "model.head.type='SupervisedClusteringHead' needs "
            "custom_hooks=[dict(type='ClassCenterHook')]: without the hook "
            'the class centres are never computed and the centre loss stays '
            '0 (plain cross-entropy)')
    elif hooks and not has_head:
        errors.append(f"custom_hooks[{hooks[0]}].type='ClassCenterHook' needs "
                      "model.head.type='SupervisedClusteringHead', got "
                      f'{_type_name(head) or head!r}')


def check_config(cfg: Config, phase: str = 'train') -> None:
    """Validate ``cfg`` for ``phase`` ('train' or 'test').

    Raises:
        ConfigError: Listing every problem found, one per line.
    """
    errors: List[str] = []
    _check_model(cfg, errors)
    loaders = ('train', 'val', 'test') if phase == 'train' else ('test', )
    classes_by_field = {}
    for split in loaders:
        loader = cfg.get(f'{split}_dataloader')
        if not isinstance(loader, dict):
            continue
        field = f'{split}_dataloader.dataset'
        classes_by_field[field] = _check_dataset(field, loader.get('dataset'),
                                                 errors)
        _check_type(f'{split}_dataloader.sampler', loader.get('sampler'),
                    DATA_SAMPLERS, errors)
        if split != 'train':
            evaluator = cfg.get(f'{split}_evaluator')
            if isinstance(evaluator, dict) and 'metrics' in evaluator:
                evaluator = evaluator['metrics']
            for i, metric in enumerate(_as_list(evaluator)):
                _check_type(f'{split}_evaluator[{i}]', metric, METRICS, errors)
    _check_num_classes(cfg, classes_by_field, errors)

    for name, hook in (cfg.get('default_hooks') or {}).items():
        _check_type(f'default_hooks.{name}', hook, HOOKS, errors)
    for i, hook in enumerate(_as_list(cfg.get('custom_hooks'))):
        _check_type(f'custom_hooks[{i}]', hook, HOOKS, errors)
    if phase == 'train':
        _check_centre_pairing(cfg, errors)
        optim = cfg.get('optim_wrapper')
        if isinstance(optim, dict):
            _check_type('optim_wrapper', optim, OPTIM_WRAPPERS, errors)
            if optim.get('type') in ('AmpOptimWrapper',
                                     'mmengine.AmpOptimWrapper') and \
                    get_device() == 'cpu':
                errors.append(
                    "optim_wrapper.type='AmpOptimWrapper' (--amp) needs a "
                    'GPU: mmengine has no mixed-precision training on CPU. '
                    'Drop --amp or set optim_wrapper.type=OptimWrapper.')
            _check_type('optim_wrapper.optimizer', optim.get('optimizer'),
                        OPTIMIZERS, errors)
            if isinstance(optim.get('constructor'), str):
                _check_type('optim_wrapper.constructor',
                            dict(type=optim['constructor']),
                            OPTIM_WRAPPER_CONSTRUCTORS, errors)
        for i, sched in enumerate(_as_list(cfg.get('param_scheduler'))):
            _check_type(f'param_scheduler[{i}]', sched, PARAM_SCHEDULERS,
                        errors)
    if errors:
        raise ConfigError('Invalid config:\n  - ' + '\n  - '.join(errors))


def _pretrained_checkpoints(cfg, field: str):
    """``(field, checkpoint)`` of every ``init_cfg`` of type ``Pretrained``
    under ``cfg`` (dicts and lists are searched recursively)."""
    if isinstance(cfg, dict):
        init = cfg.get('init_cfg')
        for i, sub in enumerate(_as_list(init)):
            if isinstance(sub, dict) and str(sub.get('type', '')).split(
                    '.')[-1] == 'Pretrained' and sub.get('checkpoint'):
                name = f'{field}.init_cfg' + (f'[{i}]' if isinstance(
                    init, (list, tuple)) else '')
                yield f'{name}.checkpoint', sub['checkpoint']
        for key, value in cfg.items():
            if key != 'init_cfg':
                yield from _pretrained_checkpoints(value, f'{field}.{key}')
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            yield from _pretrained_checkpoints(value, f'{field}[{i}]')


def check_checkpoint_paths(cfg: Config,
                           phase: str = 'train',
                           init_cfg: Optional[bool] = None,
                           load_from: bool = True) -> None:
    """Check that the local checkpoints a run will read exist.

    Checked: ``load_from`` and, for training (weights are initialised before
    resuming too), the ``checkpoint`` of every ``init_cfg`` of type
    ``Pretrained`` in ``cfg.model``. URLs and other schemes are left to the
    loaders.

    Args:
        cfg (Config): The merged config.
        phase (str): 'train' or 'test'. Defaults to 'train'.
        init_cfg (bool, optional): Check ``init_cfg`` checkpoints. Defaults to
            None: only for 'train'.
        load_from (bool): Check ``load_from``. Defaults to True.

    Raises:
        MissingCheckpointError: For the first missing file, naming the field
            and, when the file lies in ``work_dirs/<config name>/``, the
            training run (earlier stage) that writes it.
    """
    from .checkpoint import missing_checkpoint_error
    fields = []
    if load_from and cfg.get('load_from'):
        fields.append(('load_from', cfg.load_from))
    if init_cfg or (init_cfg is None and phase == 'train'):
        fields += list(_pretrained_checkpoints(cfg.get('model'), 'model'))
    for field, path in fields:
        path = str(path)
        if '://' in path:
            continue
        if not osp.isfile(osp.expanduser(path)):
            raise missing_checkpoint_error(path, field)


__all__ = [
    'ConfigError', 'check_cfg_options', 'check_checkpoint_paths',
    'check_config'
]

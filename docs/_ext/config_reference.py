# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Sphinx extension: the config reference, generated from ``configs/``.

The directive ``ecdl-config-reference FOLDER`` (in MyST, a fenced block
``{ecdl-config-reference} ecdl``) lists every config of ``configs/FOLDER/``
(``_base_``: with its subfolders) in a table: its name and what its header
comment says it is, its stage, the ``_base_`` files it inherits (as written)
and key values of the resolved config (model, initial weights, schedule,
optimizer, data).
The page is rebuilt from the files on every build, so it cannot go stale; a
config that does not load is a build warning (an error under ``-W``).
"""
import ast
import glob
import os.path as osp

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.util import logging

logger = logging.getLogger(__name__)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs')


def header_text(path):
    """The first paragraph of the comment block that opens ``path``
    (command examples, indented under ``#``, end it)."""
    words = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            if not line.startswith('#'):
                break
            text = line[1:].rstrip()
            if text.startswith('   ') or (not text.strip() and words):
                break
            words.append(text.strip())
    return ' '.join(w for w in words if w)


def declared_bases(path):
    """``_base_`` of ``path`` as written (a str or list of str)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets):
            value = ast.literal_eval(node.value)
            return [value] if isinstance(value, str) else list(value)
    return []


def stage_of(folder, name, cfg):
    """The pipeline stage a config belongs to (as the README's table)."""
    demo = ', demo' if 'demo' in name else ''
    if folder == '_base_':
        return 'base'
    if folder == 'baselines':
        return 'baseline' + demo
    if folder == 'fewshot':
        return 'few-shot' + demo
    model = cfg.get('model') or {}
    if model.get('type') == 'ECMAE':
        if cfg.get('train_dataloader') is None:
            return '1: public self-supervised weights'
        return '2: in-domain MAE' + demo
    backbone = (model.get('backbone') or {}).get('type')
    if backbone in ('ECViT', 'PromptedECViT'):
        head = (model.get('head') or {}).get('type', '')
        what = ('supervised deep clustering' if head
                == 'SupervisedClusteringHead' else f'ablation ({head})')
        return f'3: {what}' + demo
    return f'smoke test ({backbone})' + demo


def _arch(backbone):
    arch = backbone.get('arch')
    if isinstance(arch, dict):
        keys = ('embed_dims', 'num_layers', 'num_heads')
        return 'x'.join(str(arch[k]) for k in keys if k in arch)
    return arch if arch is not None else backbone.get('depth')


def key_values(cfg):
    """``[(name, value)]`` of the values a reader looks for first."""
    rows = []
    model = cfg.get('model') or {}
    backbone = model.get('backbone') or {}
    head = model.get('head') or {}
    parts = [model.get('type')]
    if backbone:
        arch = _arch(backbone)
        parts.append(f"{backbone.get('type')}" +
                     (f' ({arch})' if arch is not None else ''))
    if model.get('neck'):
        parts.append(model['neck'].get('type'))
    if head:
        parts.append(head.get('type'))
    if any(parts):  # a base file may hold no model
        rows.append(('model', ' / '.join(str(p) for p in parts if p)))
    for key in ('patch_size', 'img_size', 'num_prompts'):
        if key in backbone:
            rows.append((f'backbone.{key}', backbone[key]))
    if 'num_classes' in head:
        rows.append(('num_classes', head['num_classes']))
    center = head.get('center_loss')
    if center:
        rows.append(('center_loss', ', '.join(f'{k}={v}'
                                              for k, v in center.items()
                                              if k != 'type')))
    init = backbone.get('init_cfg') or {}
    if isinstance(init, dict) and init.get('checkpoint'):
        rows.append(('backbone init', init['checkpoint']))
    if cfg.get('load_from'):
        rows.append(('load_from', cfg['load_from']))
    train_cfg = cfg.get('train_cfg') or {}
    for key in ('max_epochs', 'max_iters'):
        if key in train_cfg:
            rows.append((key, train_cfg[key]))
    loader = cfg.get('train_dataloader') or {}
    if 'batch_size' in loader:
        rows.append(('batch per GPU', loader['batch_size']))
    optim = (cfg.get('optim_wrapper') or {})
    optimizer = optim.get('optimizer') or {}
    if optimizer:
        rows.append(('optimizer', f"{optimizer.get('type')}, "
                     f"lr {optimizer.get('lr')}, "
                     f"weight decay {optimizer.get('weight_decay')}"))
    decay = (optim.get('paramwise_cfg') or {}).get('layer_decay_rate')
    if decay is not None:
        rows.append(('layer decay', decay))
    for split in ('train', 'val', 'test'):
        dataset = (cfg.get(f'{split}_dataloader') or {}).get('dataset')
        while isinstance(dataset, dict) and 'dataset' in dataset:
            dataset = dataset['dataset']  # wrappers (class-balanced, ...)
        if not isinstance(dataset, dict):
            continue
        where = [dataset.get('type'), dataset.get('data_root')]
        if dataset.get('ann_file'):
            where.append(dataset['ann_file'] +
                         (f":{dataset['sheet_name']}" if dataset.
                          get('sheet_name') else ''))
        rows.append((f'{split} data', ' '.join(str(w) for w in where if w)))
    evaluator = cfg.get('test_evaluator')
    if evaluator:
        metrics = evaluator if isinstance(evaluator, list) else [evaluator]
        rows.append(
            ('test metrics', ', '.join(str(m.get('type')) for m in metrics)))
    return rows


def _cell(*children):
    entry = nodes.entry()
    entry.extend(children)
    return entry


def _para(*parts):
    para = nodes.paragraph()
    for part in parts:
        para += part
    return para


def config_paths(folder):
    """The configs of ``configs/folder`` (``_base_``: with its subfolders)."""
    pattern = '**/*.py' if folder == '_base_' else '*.py'
    return sorted(
        glob.glob(osp.join(CONFIGS, folder, pattern), recursive=True))


def config_rows(folder):
    """Table rows for every config of ``configs/folder``."""
    from mmengine.config import Config
    paths = config_paths(folder)
    if not paths:
        logger.warning(f'config reference: no configs in configs/{folder}')
    rows = []
    for path in paths:
        name = osp.splitext(osp.relpath(path, osp.join(CONFIGS, folder)))[0]
        try:
            cfg = Config.fromfile(path)
        except Exception as exc:  # a config that does not load: say which
            logger.warning(f'config reference: {path} does not load: '
                           f'{type(exc).__name__}: {exc}')
            continue
        row = nodes.row()
        first = [_para(nodes.literal(text=f'{name}.py'))]
        if header_text(path):
            first.append(_para(nodes.Text(header_text(path))))
        row += _cell(*first)
        row += _cell(_para(nodes.Text(stage_of(folder, name, cfg))))
        bases = nodes.bullet_list()
        for base in declared_bases(path):
            bases += nodes.list_item('', _para(nodes.literal(text=base)))
        row += _cell(bases)
        values = nodes.bullet_list()
        for key, value in key_values(cfg):
            values += nodes.list_item(
                '',
                _para(nodes.Text(f'{key}: '), nodes.literal(text=str(value))))
        row += _cell(values)
        rows.append(row)
    return rows


class ConfigReference(Directive):
    """The config table of one folder of ``configs/``."""
    required_arguments = 1

    def run(self):
        folder = self.arguments[0]
        env = self.state.document.settings.env
        for path in config_paths(folder):
            env.note_dependency(path)
        headers = ('config', 'stage', 'inherits (_base_)', 'key values')
        table = nodes.table(classes=['config-reference'])
        group = nodes.tgroup(cols=len(headers))
        table += group
        for width in (30, 12, 24, 34):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        head_row = nodes.row()
        for text in headers:
            head_row += _cell(_para(nodes.Text(text)))
        head += head_row
        group += head
        body = nodes.tbody()
        body.extend(config_rows(folder))
        group += body
        return [table]


def setup(app):
    app.add_directive('ecdl-config-reference', ConfigReference)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The package's layers: a lower layer never imports a higher one.

utils < datasets, models < evaluation, engine < deploy, inference < apis, live,
reader_app, experiments (docs/design.md, "Layers"). Every ``import`` and
``from ... import`` of every module (also those inside functions) is
resolved and checked; modules left at an old path by a move
(:func:`ecdl_mm.utils.deprecation.moved_module`) are skipped.
"""
import ast
import os
import os.path as osp

import pytest

import ecdl_mm

PKG_DIR = osp.dirname(ecdl_mm.__file__)
LAYERS = {
    'utils': 0,
    'fileio': 0,
    'version': 0,
    'datasets': 1,
    'models': 1,
    'evaluation': 2,
    'engine': 2,
    'deploy': 3,
    'inference': 3,
    'apis': 4,
    'live': 4,
    'reader_app': 4,
    'experiments': 4,
}


def _modules():
    for dirpath, _, files in os.walk(PKG_DIR):
        for name in sorted(files):
            if name.endswith('.py'):
                path = osp.join(dirpath, name)
                rel = osp.relpath(path, osp.dirname(PKG_DIR))[:-3]
                dotted = rel.replace(os.sep, '.')
                is_pkg = dotted.endswith('.__init__')
                if is_pkg:
                    dotted = dotted[:-len('.__init__')]
                yield path, dotted, is_pkg


def imported_modules(path, dotted, is_pkg):
    """Absolute dotted names of every module ``path`` imports."""
    package = dotted if is_pkg else dotted.rsplit('.', 1)[0]
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                name = '.'.join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ''
            yield node.lineno, name


def layer_of(dotted):
    parts = dotted.split('.')
    if parts[0] != 'ecdl_mm' or len(parts) < 2:
        return None, None
    return parts[1], LAYERS.get(parts[1])


def upward_imports(modules):
    found = []
    for path, dotted, is_pkg in modules:
        with open(path, encoding='utf-8') as f:
            if 'moved_module(__name__' in f.read():
                continue
        src, src_layer = layer_of(dotted)
        for lineno, target in imported_modules(path, dotted, is_pkg):
            dst, dst_layer = layer_of(target)
            if src_layer is None or dst_layer is None:
                continue
            if dst_layer > src_layer:
                found.append(f'{osp.relpath(path, osp.dirname(PKG_DIR))}:'
                             f'{lineno} ({src}) imports {target} ({dst})')
    return found


def test_every_top_level_part_has_a_layer():
    parts = {layer_of(dotted)[0] for _, dotted, _ in _modules()}
    parts.discard(None)
    assert parts <= set(LAYERS), sorted(parts - set(LAYERS))


def test_no_module_imports_a_higher_layer():
    assert upward_imports(list(_modules())) == []


def test_the_check_finds_an_upward_import(tmp_path):
    """The walker itself: a utils module importing a model is reported,
    relative and lazy imports included."""
    pkg = tmp_path / 'ecdl_mm' / 'utils'
    pkg.mkdir(parents=True)
    bad = pkg / 'bad.py'
    bad.write_text('def f():\n    from ..models import ECViT\n'
                   'import ecdl_mm.live.live_session\n'
                   'from . import io\n')
    found = upward_imports([(str(bad), 'ecdl_mm.utils.bad', False)])
    assert len(found) == 2
    assert any(
        f.endswith('bad.py:2 (utils) imports ecdl_mm.models (models)')
        for f in found), found
    assert any(
        f.endswith('bad.py:3 (utils) imports ecdl_mm.live.live_session (live)')
        for f in found), found


@pytest.mark.parametrize('old,new,name', [
    ('ecdl_mm.apis', 'ecdl_mm.live', 'LiveSession'),
    ('ecdl_mm.apis', 'ecdl_mm.experiments', 'run_benchmark'),
])
def test_moved_names_still_import_with_a_warning(old, new, name):
    import importlib
    old_mod, new_mod = importlib.import_module(old), importlib.import_module(
        new)
    with pytest.warns(DeprecationWarning, match=f'{old}.{name} moved'):
        obj = getattr(old_mod, name)
    assert obj is getattr(new_mod, name)


@pytest.mark.parametrize('old,new', [
    ('ecdl_mm.apis.live_session', 'ecdl_mm.live.live_session'),
    ('ecdl_mm.apis.split_predictions',
     'ecdl_mm.experiments.split_predictions'),
    ('ecdl_mm.datasets.demo_video', 'ecdl_mm.live.demo_video'),
    ('ecdl_mm.evaluation.clinical.outputs', 'ecdl_mm.utils.io'),
    ('ecdl_mm.evaluation.clinical.reader_app.app', 'ecdl_mm.reader_app.app'),
    ('ecdl_mm.utils.model_converter', 'ecdl_mm.models.utils.model_converter'),
])
def test_moved_modules_import_from_their_old_path(old, new):
    """An old module path gives the new module object itself (so patching
    one patches the other), with a DeprecationWarning naming the new path."""
    import importlib
    import sys
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f'{old} moved to {new}'):
        mod = importlib.import_module(old)
    assert mod is importlib.import_module(new)


def test_reader_app_names_from_the_old_package():
    import importlib

    import ecdl_mm.reader_app as new
    old = importlib.import_module('ecdl_mm.evaluation.clinical.reader_app')
    with pytest.warns(DeprecationWarning, match='moved to ecdl_mm.reader_app'):
        assert old.ReaderApp is new.ReaderApp


#: Libraries that ``import ecdl_mm`` must not load (imported where used):
#: scikit-learn alone adds ~0.8 s to the start of every tool.
LAZY = ('sklearn', 'matplotlib')


def test_heavy_libraries_are_imported_where_used():
    """No module imports them at its top level, so that ``import ecdl_mm``
    (every tool's start) does not pay for them."""
    found = []
    for path, dotted, _ in _modules():
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        for node in tree.body:  # module level only
            names = [a.name for a in node.names] if isinstance(
                node, ast.Import) else [node.module or ''] if isinstance(
                    node, ast.ImportFrom) else []
            for name in names:
                if name.split('.')[0] in LAZY:
                    found.append(f'{dotted}:{node.lineno} imports {name}')
    assert found == []

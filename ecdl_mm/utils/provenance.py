# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Where a result came from: the provenance recorded beside every metrics
file, predictions CSV and report.

:func:`collect_provenance` gathers, in one JSON-ready dict, the config (path
and sha256 of the file), the checkpoint (path and sha256 prefix, as
mmengine names published checkpoints ``name-<sha256[:8]>.pth``), the data
root, split sheet and sheet name, the date (UTC), the versions of ecdl_mm,
mmpretrain, mmengine, torch and Python, and the command line.

The tools write it after the library returns:

* ``metrics.json`` (``tools/test.py``) gets a ``provenance`` key;
* each predictions CSV gets a sidecar ``<csv>.provenance.json``, so the CSV
  stays a plain table for pandas and ``load_lesion_predictions``;
* the clinical tools put theirs, with the provenance of each input file
  (from its sidecar), in their JSON and in the header of ``report.html``.
"""
import datetime
import hashlib
import json
import os
import os.path as osp
import shlex
import sys
from typing import List, Optional, Sequence, Tuple

#: Length of the checkpoint sha256 prefix recorded (mmengine's file names
#: carry 8 characters; 16 make an accidental match unlikely).
SHA256_PREFIX = 16

#: Suffix of the provenance sidecar of a CSV file.
SIDECAR_SUFFIX = '.provenance.json'


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict:
    import mmengine
    import mmpretrain
    import torch

    from ..version import __version__
    return dict(
        ecdl_mm=__version__,
        mmpretrain=mmpretrain.__version__,
        mmengine=mmengine.__version__,
        torch=torch.__version__,
        python=sys.version.split()[0])


def _file_entry(path: Optional[str], hash_key: str) -> Optional[dict]:
    """``path`` (absolute when local) and its ``sha256`` (the whole digest)
    or ``sha256_prefix``; the hash is None for a URL or a missing file."""
    if not path:
        return None
    path = str(path)
    if '://' in path or not osp.isfile(path):
        return {'path': path, hash_key: None}
    sha = file_sha256(path)
    return {
        'path': osp.abspath(path),
        hash_key: sha if hash_key == 'sha256' else sha[:SHA256_PREFIX]
    }


def dataset_source(cfg, split: str = 'test') -> Tuple[Optional[str], ...]:
    """``(data_root, ann_file, sheet_name)`` of ``cfg.<split>_dataloader``'s
    dataset, looking through dataset wrappers (``dataset=dict(...)``).

    Args:
        cfg (Config | dict): A merged config.
        split (str): 'train', 'val' or 'test'. Defaults to 'test'.
    """
    loader = cfg.get(f'{split}_dataloader') if cfg is not None else None
    dataset = loader.get('dataset') if isinstance(loader, dict) else None
    while isinstance(dataset, dict) and 'data_root' not in dataset and \
            isinstance(dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    if not isinstance(dataset, dict):
        return None, None, None
    root, ann = dataset.get('data_root'), dataset.get('ann_file') or None
    if ann and root and not osp.isabs(ann):
        ann = osp.join(root, ann)
    return (osp.abspath(root) if root else None,
            osp.abspath(ann) if ann else None, dataset.get('sheet_name'))


def collect_provenance(config: Optional[str] = None,
                       checkpoint: Optional[str] = None,
                       data_root: Optional[str] = None,
                       split_sheet: Optional[str] = None,
                       sheet_name: Optional[str] = None,
                       argv: Optional[Sequence[str]] = None,
                       inputs: Optional[dict] = None) -> dict:
    """Collect the provenance of a result.

    Args:
        config (str, optional): The config file. Defaults to None.
        checkpoint (str, optional): The checkpoint file (or URL: recorded
            without a hash). Defaults to None.
        data_root (str, optional): The data root. Defaults to None.
        split_sheet (str, optional): The split sheet file. Defaults to None.
        sheet_name (str, optional): The sheet of ``split_sheet``. Defaults to
            None.
        argv (Sequence[str], optional): The command line. Defaults to
            ``sys.argv``.
        inputs (dict, optional): Name to input file of a tool that reads
            earlier results (e.g. predictions CSVs): each is recorded with
            its sha256 prefix and the provenance of its sidecar, if any.
            Defaults to None.

    Returns:
        dict: ``config`` (``path``, ``sha256``), ``checkpoint`` (``path``,
        ``sha256_prefix``), ``data_root``, ``split_sheet``, ``sheet_name``,
        ``date`` (UTC, ISO 8601), ``versions`` (ecdl_mm, mmpretrain,
        mmengine, torch, python), ``command`` (the shell-quoted command
        line) and, with ``inputs``, ``inputs`` (name to ``path``,
        ``sha256_prefix``, ``provenance``).
    """
    argv = list(sys.argv if argv is None else argv)
    prov = dict(
        config=_file_entry(config, 'sha256'),
        checkpoint=_file_entry(checkpoint, 'sha256_prefix'),
        data_root=osp.abspath(data_root) if data_root else None,
        split_sheet=osp.abspath(split_sheet) if split_sheet else None,
        sheet_name=sheet_name,
        date=datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec='seconds'),
        versions=_versions(),
        command=shlex.join([osp.basename(sys.executable)] + argv))
    if inputs:
        prov['inputs'] = {
            name:
            dict(
                _file_entry(path, 'sha256_prefix'),
                provenance=read_sidecar(path))
            for name, path in inputs.items()
        }
    return prov


def provenance_from_config(cfg,
                           config: Optional[str] = None,
                           checkpoint: Optional[str] = None,
                           split: str = 'test',
                           argv: Optional[Sequence[str]] = None) -> dict:
    """:func:`collect_provenance` with the data root, split sheet and sheet
    of ``cfg.<split>_dataloader`` (see :func:`dataset_source`)."""
    root, sheet, name = dataset_source(cfg, split)
    return collect_provenance(
        config=config,
        checkpoint=checkpoint,
        data_root=root,
        split_sheet=sheet,
        sheet_name=name,
        argv=argv)


def sidecar_path(path: str) -> str:
    """The provenance sidecar of ``path`` (``<path>.provenance.json``)."""
    return str(path) + SIDECAR_SUFFIX


def write_sidecar(path: str, provenance: dict) -> str:
    """Write ``provenance`` beside ``path``; returns the sidecar's path."""
    out = sidecar_path(path)
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(provenance, f, indent=2)
        f.write('\n')
    return out


def read_sidecar(path: str) -> Optional[dict]:
    """The provenance sidecar of ``path``; None when there is none."""
    side = sidecar_path(path)
    if not osp.isfile(side):
        return None
    with open(side, encoding='utf-8') as f:
        return json.load(f)


def add_to_json(path: str, provenance: dict, key: str = 'provenance') -> None:
    """Add ``provenance`` under ``key`` to the JSON object in ``path``."""
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    data[key] = provenance
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)
        f.write('\n')


def record_provenance(
    provenance: dict, out_dirs: Sequence[str] = (), files: Sequence[str] = ()
) -> List[str]:
    """Record ``provenance`` with the results of a run (main process only).

    In each of ``out_dirs`` (a LesionMetric ``out_dir``): a ``provenance``
    key in ``metrics.json`` and a sidecar beside every CSV. Each of
    ``files`` (e.g. ``tools/test.py --out``) gets a sidecar.

    Returns:
        list[str]: The files written or updated.
    """
    from mmengine.dist import is_main_process
    if not is_main_process():
        return []
    written = []
    for out_dir in out_dirs:
        if not osp.isdir(out_dir):
            continue
        metrics = osp.join(out_dir, 'metrics.json')
        if osp.isfile(metrics):
            add_to_json(metrics, provenance)
            written.append(metrics)
        for name in sorted(os.listdir(out_dir)):
            if name.endswith('.csv'):
                written.append(
                    write_sidecar(osp.join(out_dir, name), provenance))
    for path in files:
        if osp.isfile(path):
            written.append(write_sidecar(path, provenance))
    return written


def provenance_lines(prov: Optional[dict]) -> List[Tuple[str, str]]:
    """``(label, text)`` lines of a provenance dict, for a report header."""
    if not prov:
        return []
    lines = []
    for key, label in (('config', 'config'), ('checkpoint', 'checkpoint')):
        entry = prov.get(key)
        if entry:
            sha = entry.get('sha256') or entry.get('sha256_prefix')
            lines.append(
                (label, entry['path'] + (f' (sha256 {sha})' if sha else '')))
    named = (('data_root', 'data root'), ('split_sheet', 'split sheet'),
             ('sheet_name', 'sheet'))
    for key, label in named:
        if prov.get(key):
            lines.append((label, str(prov[key])))
    for name, entry in (prov.get('inputs') or {}).items():
        text = entry['path']
        if entry.get('sha256_prefix'):
            text += f' (sha256 {entry["sha256_prefix"]})'
        sub = entry.get('provenance') or {}
        parts = []
        if (sub.get('config') or {}).get('path'):
            parts.append(f'config {sub["config"]["path"]}')
        ckpt = sub.get('checkpoint') or {}
        if ckpt.get('path'):
            sha = ckpt.get('sha256_prefix')
            parts.append(f'checkpoint {ckpt["path"]}' +
                         (f' (sha256 {sha})' if sha else ''))
        if sub.get('sheet_name'):
            parts.append(f'sheet {sub["sheet_name"]}')
        text += ('; from ' + ', '.join(parts)) if parts else \
            '; no provenance sidecar'
        lines.append((f'input {name}', text))
    if prov.get('date'):
        lines.append(('date', prov['date']))
    if prov.get('versions'):
        lines.append(
            ('versions', ', '.join(f'{k} {v}'
                                   for k, v in prov['versions'].items())))
    if prov.get('command'):
        lines.append(('command', prov['command']))
    return lines

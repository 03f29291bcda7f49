# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A ready-to-run study on the demo lesions (``reader_app.py --demo``).

The demo has no trained model, so the assisted session shows SIMULATED model
output: per lesion, the true class with probability ``accuracy`` (else
another class at random) gets a Dirichlet-drawn top probability. Every page
of the admin side says so; pass ``model`` to use a real
``lesion_predictions.csv`` instead.
"""
import os
import os.path as osp
import secrets
from typing import Optional, Sequence, Tuple

import numpy as np

SIMULATED_NOTE = ('SIMULATED model output (no trained model; demo only): '
                  'the assisted session does not show a real AI')
DEMO_READERS = (('E1', 'expert'), ('N1', 'non-expert'))


def simulated_predictions(split: str,
                          sheet: str,
                          cohort: str,
                          out: str,
                          accuracy: float = 0.75,
                          seed: int = 0) -> str:
    """Write a SIMULATED ``lesion_predictions.csv`` for a split sheet's
    lesions (ids ``'<cohort>/<lesion_index>'``); returns ``out``."""
    import pandas as pd

    from ecdl_mm.datasets import ECNBIDataset
    from ecdl_mm.datasets.split_sheet import load_split_sheet
    classes = ECNBIDataset.METAINFO['classes']
    df = load_split_sheet(split, sheet, classes)
    rng = np.random.default_rng(seed)
    rows = []
    for rec in df.to_dict('records'):
        y = int(rec['class_index'])
        pred = y if rng.random() < accuracy else int(
            rng.choice([k for k in range(len(classes)) if k != y]))
        p = rng.dirichlet(np.ones(len(classes)))
        top = 0.45 + 0.5 * rng.random()
        rest = np.delete(p, pred)
        rest = rest / rest.sum() * (1 - top)
        probs = np.insert(rest, pred, top)
        row = dict(
            lesion_id=f'{cohort}/{rec["lesion_index"]}',
            num_images=1,
            gt_label=y,
            gt_class=classes[y])
        row.update({f'prob_{c}': float(v) for c, v in zip(classes, probs)})
        row.update(pred_label=pred, pred_class=classes[pred])
        rows.append(row)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False)
    return out


def write_demo_study(out_dir: str,
                     data_root: str,
                     sheet: str = 'demo_test',
                     model: Optional[str] = None,
                     readers: Sequence[Tuple[str, str]] = DEMO_READERS,
                     washout_days: float = 14,
                     design: str = 'crossover',
                     bootstrap_rounds: int = 2000,
                     seed: int = 0) -> str:
    """Write ``out_dir/study.yaml`` for the demo lesions (kept, with its
    secrets and reads, when it exists already); returns its path."""
    import yaml
    path = osp.join(out_dir, 'study.yaml')
    if osp.isfile(path):
        return path
    os.makedirs(out_dir, exist_ok=True)
    data_root = osp.abspath(data_root)
    split = osp.join(data_root, 'dataset_divide.xlsx')
    cohort = osp.basename(osp.normpath(data_root))
    note = ''
    if model is None:
        model = simulated_predictions(
            split,
            sheet,
            cohort,
            osp.join(out_dir, 'simulated_lesion_predictions.csv'),
            seed=seed)
        note = SIMULATED_NOTE
    cfg = dict(
        title='EC-NBI reader study (demo lesions)',
        db='reads.sqlite',
        admin_secret=secrets.token_urlsafe(18),
        seed=seed,
        lesions=dict(data_root=data_root, split=split, sheet=sheet),
        model=dict(predictions=osp.abspath(model), note=note),
        readers=[
            dict(id=rid, group=group, secret=secrets.token_urlsafe(18))
            for rid, group in readers
        ],
        sessions=dict(design=design, washout_days=washout_days),
        answer=dict(
            labels={
                'adenomas': 'Adenoma',
                'invasive_cancer': 'Invasive cancer',
                'non-neoplastic': 'Non-neoplastic'
            },
            confidence=[1, 2, 3, 4, 5],
            confidence_labels={
                1: 'guess',
                5: 'certain'
            }),
        analysis=dict(bootstrap_rounds=bootstrap_rounds))
    with open(path, 'w', encoding='utf-8') as f:
        f.write('# Reader study on the demo lesions, written by '
                'tools/analysis/reader_app.py --demo.\n# The secrets below '
                'are the access links: keep this file private.\n')
        yaml.safe_dump(cfg, f, sort_keys=False)
    return path

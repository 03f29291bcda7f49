# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Synthetic ``lesion_predictions.csv`` files in LesionMetric's format, and a
simulated reader study over them."""
import numpy as np
import pandas as pd

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')
# the columns LesionMetric writes (checked in test_clinical_reports.py)
LESION_COLUMNS = [
    'lesion_id', 'patient_id', 'num_images', 'gt_label', 'gt_class'
] + [f'prob_{c}' for c in CLASSES] + ['pred_label', 'pred_class']


def write_lesion_csv(path, lesion_ids, target, scores, classes=CLASSES):
    scores = np.asarray(scores, dtype=np.float64)
    pred = scores.argmax(1)
    df = pd.DataFrame(
        dict(
            lesion_id=list(lesion_ids),
            patient_id=[f'P{lid}' for lid in lesion_ids],
            num_images=1,
            gt_label=target,
            gt_class=[classes[k] for k in target]))
    for k, c in enumerate(classes):
        df[f'prob_{c}'] = scores[:, k]
    df['pred_label'] = pred
    df['pred_class'] = [classes[k] for k in pred]
    df.to_csv(path, index=False)
    return str(path)


def synthetic_scores(target, strength, rng):
    logits = rng.normal(size=(len(target), 3)) + strength * np.eye(3)[target]
    return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


READERS = dict(E1='expert', E2='expert', N1='novice', N2='novice', N3='novice')


def make_study(tmp_path,
               num=36,
               target=None,
               seed=0,
               confidence=True,
               sessions=('unassisted', 'assisted')):
    """A model on ``num + 4`` lesions and 5 readers who read the first
    ``num`` in every session."""
    rng = np.random.default_rng(seed)
    if target is None:
        target = np.arange(num + 4) % 3
    ids = [f'L{i}' for i in range(len(target))]
    model = write_lesion_csv(tmp_path / 'model.csv', ids, target,
                             synthetic_scores(target, 1.5, rng))
    rows = []
    for r, g in READERS.items():
        for si, s in enumerate(sessions):
            skill = (0.75 if g == 'expert' else 0.5) + 0.2 * si
            for i in range(num):
                y = target[i]
                diag = y if rng.random() < skill else (y +
                                                       rng.integers(1, 3)) % 3
                rows.append(
                    dict(
                        reader_id=r,
                        group=g,
                        session=s,
                        lesion_id=ids[i],
                        diagnosis=CLASSES[diag],
                        confidence=int(rng.integers(1, 6))))
    df = pd.DataFrame(rows)
    if not confidence:
        df = df.drop(columns='confidence')
    df.to_csv(tmp_path / 'readers.csv', index=False)
    return model, str(tmp_path / 'readers.csv'), df, target[:num]

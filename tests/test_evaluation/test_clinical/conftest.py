"""Synthetic ``lesion_predictions.csv`` files in LesionMetric's format."""
import numpy as np
import pandas as pd
import pytest

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')
# the columns LesionMetric writes (checked in test_clinical_reports.py)
LESION_COLUMNS = ['lesion_id', 'patient_id', 'num_images', 'gt_label',
                  'gt_class'] + [f'prob_{c}' for c in CLASSES] + [
                      'pred_label', 'pred_class']


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


@pytest.fixture
def three_models(tmp_path):
    """Models A (good), B (weaker), C (weak) on the same 60 lesions; C's
    file lists them in another order."""
    rng = np.random.default_rng(11)
    ids = [f'L{i:03d}' for i in range(60)]
    target = np.arange(60) % 3
    files = []
    for name, strength in (('A', 2.5), ('B', 1.2), ('C', 0.4)):
        scores = synthetic_scores(target, strength, rng)
        order = np.arange(60)[::-1] if name == 'C' else np.arange(60)
        files.append(
            write_lesion_csv(tmp_path / f'{name}.csv',
                             [ids[i] for i in order], target[order],
                             scores[order]))
    return files

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Inter-reader agreement: Fleiss' kappa (statsmodels) and pairwise Cohen's
kappa (scikit-learn)."""
from typing import Sequence

import numpy as np
from statsmodels.stats import inter_rater


def fleiss_kappa(ratings: np.ndarray, num_classes: int) -> float:
    """Fleiss' kappa of ``R`` readers who each rated every case.

    Args:
        ratings (np.ndarray): Class indices ``(N, R)``, case by reader.
        num_classes (int): Number of categories; categories no reader
            used still count (``aggregate_raters(n_cat=...)``).

    Returns:
        float: Fleiss' kappa (statsmodels ``fleiss_kappa``).
    """
    ratings = np.asarray(ratings, dtype=np.int64)
    if ratings.ndim != 2 or ratings.shape[1] < 2:
        raise ValueError(f'Fleiss\' kappa needs ratings (cases, readers) '
                         f'with >= 2 readers, got shape {ratings.shape}')
    counts, _ = inter_rater.aggregate_raters(ratings, n_cat=num_classes)
    return float(inter_rater.fleiss_kappa(counts, method='fleiss'))


def pairwise_cohen_kappa(ratings: np.ndarray,
                         labels: Sequence[int]) -> np.ndarray:
    """Cohen's kappa of every pair of readers (scikit-learn).

    Args:
        ratings (np.ndarray): Class indices ``(N, R)``.
        labels (Sequence[int]): All category indices, so a category only
            one reader used still counts.

    Returns:
        np.ndarray: Symmetric ``(R, R)`` matrix with 1 on the diagonal.
    """
    # scikit-learn on use: importing it costs ~0.8 s of every tool's start
    from sklearn.metrics import cohen_kappa_score
    ratings = np.asarray(ratings)
    num_r = ratings.shape[1]
    out = np.eye(num_r)
    for i in range(num_r):
        for j in range(i + 1, num_r):
            out[i, j] = out[j, i] = cohen_kappa_score(
                ratings[:, i], ratings[:, j], labels=list(labels))
    return out

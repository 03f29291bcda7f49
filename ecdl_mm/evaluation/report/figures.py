# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Figures of the clinical reports (matplotlib, Agg)."""
from typing import Dict, Sequence

import numpy as np

SESSION_MARKERS = ('o', 's', '^', 'D', 'v')


def _plt():
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    return plt


def roc_models(target: np.ndarray, scores: Dict[str, np.ndarray],
               classes: Sequence[str]):
    """One-vs-rest ROC curves of several models, one panel per class."""
    # scikit-learn on use: importing it costs ~0.8 s of every tool's start
    from sklearn.metrics import roc_auc_score, roc_curve
    plt = _plt()
    num_c = len(classes)
    fig, axes = plt.subplots(
        1, num_c, figsize=(4.2 * num_c, 4.2), squeeze=False)
    for k, (ax, cls) in enumerate(zip(axes[0], classes)):
        pos = np.asarray(target) == k
        if 0 < pos.sum() < len(pos):
            for name, s in scores.items():
                fpr, tpr, _ = roc_curve(pos, s[:, k])
                auc = roc_auc_score(pos, s[:, k])
                ax.plot(fpr, tpr, label=f'{name} (AUC {auc:.3f})')
            ax.legend(loc='lower right', fontsize=8)
        else:
            ax.text(0.5, 0.5, 'no positives or no negatives', ha='center')
        _roc_axes(ax, f'{cls} vs rest ({int(pos.sum())} positives)')
    fig.tight_layout()
    return fig


def _roc_axes(ax, title):
    ax.plot([0, 1], [0, 1], color='grey', linewidth=0.5)
    ax.set(
        xlim=(-0.02, 1.02),
        ylim=(-0.02, 1.02),
        xlabel='1 - specificity',
        ylabel='sensitivity',
        title=title)
    ax.set_aspect('equal')


def roc_with_readers(target: np.ndarray,
                     scores: np.ndarray,
                     classes: Sequence[str],
                     points: Sequence[dict],
                     sessions: Sequence[str],
                     groups: Sequence[str],
                     model_name: str = 'model'):
    """Per class, the model's ROC curve with every reader's operating point.

    Args:
        target (np.ndarray): ``(L, )`` true classes.
        scores (np.ndarray): ``(L, C)`` model probabilities.
        classes (Sequence[str]): Class names.
        points (Sequence[dict]): One per reader and session: ``reader``,
            ``group``, ``session``, ``fpr`` and ``tpr`` (``(C, )`` each).
        sessions (Sequence[str]): Session order (marker per session, filled
            for all but the first).
        groups (Sequence[str]): Group order (colour per group).
        model_name (str): Legend name of the curve.
    """
    from sklearn.metrics import roc_auc_score, roc_curve
    plt = _plt()
    num_c = len(classes)
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color'][1:]
    fig, axes = plt.subplots(
        1, num_c, figsize=(4.6 * num_c, 4.8), squeeze=False)
    by_reader = {}
    for p in points:
        by_reader.setdefault(p['reader'], []).append(p)
    for k, (ax, cls) in enumerate(zip(axes[0], classes)):
        pos = np.asarray(target) == k
        if 0 < pos.sum() < len(pos):
            fpr, tpr, _ = roc_curve(pos, scores[:, k])
            auc = roc_auc_score(pos, scores[:, k])
            ax.plot(fpr, tpr, color='#1f3a5f', linewidth=1.8)
            title = f'{cls} vs rest ({int(pos.sum())} pos.), AUC {auc:.3f}'
        else:
            title = f'{cls} vs rest ({int(pos.sum())} positives)'
        for reader_points in by_reader.values():
            ordered = sorted(
                reader_points,
                key=lambda p: list(sessions).index(p['session']))
            color = colors[list(groups).index(ordered[0]['group']) %
                           len(colors)]
            if len(ordered) > 1:
                ax.annotate(
                    '',
                    xy=(ordered[-1]['fpr'][k], ordered[-1]['tpr'][k]),
                    xytext=(ordered[0]['fpr'][k], ordered[0]['tpr'][k]),
                    arrowprops=dict(
                        arrowstyle='->', color=color, lw=0.8, alpha=0.7))
            for p in ordered:
                si = list(sessions).index(p['session'])
                ax.scatter(
                    p['fpr'][k],
                    p['tpr'][k],
                    s=38,
                    marker=SESSION_MARKERS[si % len(SESSION_MARKERS)],
                    facecolors='none' if si == 0 else color,
                    edgecolors=color,
                    linewidths=1.3,
                    zorder=3)
        _roc_axes(ax, title)
        if k == 0:
            handles = [
                plt.Line2D([], [], color='#1f3a5f', label=model_name)
            ] + [
                plt.Line2D([], [],
                           color=colors[i % len(colors)],
                           marker='o',
                           linestyle='',
                           label=g) for i, g in enumerate(groups)
            ] + [
                plt.Line2D([], [],
                           color='black',
                           linestyle='',
                           marker=SESSION_MARKERS[i % len(SESSION_MARKERS)],
                           markerfacecolor='none' if i == 0 else 'black',
                           label=s) for i, s in enumerate(sessions)
            ]
            ax.legend(handles=handles, loc='lower right', fontsize=8)
    fig.suptitle('Model ROC curves and reader operating points '
                 '(arrows: first to last session)')
    fig.tight_layout()
    return fig


def difference_forest(rows: Sequence[dict],
                      title: str,
                      xlabel: str = 'difference (95% CI)'):
    """Forest plot of differences with intervals: ``rows`` carry
    ``label``, ``difference``, ``ci_lower``, ``ci_upper`` and optionally
    ``p_value``."""
    plt = _plt()
    n = len(rows)
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * n + 1.3))
    y = np.arange(n)[::-1]
    for yi, r in zip(y, rows):
        lo, hi = r['ci_lower'], r['ci_upper']
        ax.plot([lo, hi], [yi, yi], color='#1f3a5f', linewidth=1.6)
        ax.plot(r['difference'], yi, 'o', color='#1f3a5f')
        if r.get('p_value') is not None and np.isfinite(r['p_value']):
            ax.text(
                1.02,
                yi,
                f"p={r['p_value']:.3f}",
                va='center',
                transform=ax.get_yaxis_transform(),
                fontsize=8)
    ax.axvline(0, color='grey', linewidth=0.8, linestyle='--')
    ax.set_yticks(y)
    ax.set_yticklabels([r['label'] for r in rows], fontsize=8)
    ax.set(xlabel=xlabel, title=title)
    fig.tight_layout()
    return fig


def kappa_heatmap(names: Sequence[str], matrix: np.ndarray, title: str):
    """Pairwise Cohen's kappa as an annotated heat map."""
    plt = _plt()
    n = len(names)
    fig, ax = plt.subplots(figsize=(0.55 * n + 2.2, 0.55 * n + 1.6))
    im = ax.imshow(matrix, vmin=-1, vmax=1, cmap='RdBu')
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f'{matrix[i][j]:.2f}',
                ha='center',
                va='center',
                fontsize=7)
    ax.set_xticks(range(n))
    ax.set_xticklabels(names, rotation=60, ha='right', fontsize=8)
    ax.set_yticks(range(n))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def confusion_figure(cm: np.ndarray, classes: Sequence[str], title: str):
    """A confusion matrix (rows true) with counts."""
    plt = _plt()
    cm = np.asarray(cm)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.3 * n + 2, 1.3 * n + 1.4))
    ax.imshow(cm, cmap='Blues')
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(int(cm[i, j])),
                ha='center',
                va='center',
                color='white' if cm[i, j] > cm.max() / 2 else 'black')
    ax.set_xticks(range(n))
    ax.set_xticklabels(classes, rotation=30, ha='right')
    ax.set_yticks(range(n))
    ax.set_yticklabels(classes)
    ax.set(xlabel='predicted', ylabel='true', title=title)
    fig.tight_layout()
    return fig


def reliability_diagram(curves: Dict[str, tuple],
                        title: str,
                        n_bins: int = 15):
    """Reliability diagram: per equal-width bin of the top probability,
    the accuracy against the mean confidence, one line per entry of
    ``curves`` (name -> ``(confidence (N, ), correct (N, ))``), with the
    ECE in the legend and the bin counts below."""
    from ..functional import binned_ece, reliability_bins
    plt = _plt()
    fig, (ax, axc) = plt.subplots(
        2,
        1,
        figsize=(5.2, 6.2),
        sharex=True,
        gridspec_kw=dict(height_ratios=(3, 1)))
    width = 1.0 / n_bins
    for i, (name, (conf, correct)) in enumerate(curves.items()):
        b = reliability_bins(conf, correct, n_bins)
        full = b['count'] > 0
        ece = binned_ece(conf, correct, n_bins)
        ax.plot(
            b['confidence'][full],
            b['accuracy'][full],
            'o-',
            label=f'{name} (ECE {ece:.3f})')
        centres = b['edges'][:-1] + width / 2
        shift = (i - (len(curves) - 1) / 2) * width / max(len(curves), 1)
        axc.bar(
            centres + shift,
            b['count'],
            width / max(len(curves), 1),
            label=name)
    ax.plot([0, 1], [0, 1], color='grey', linewidth=0.6, linestyle='--')
    ax.set(xlim=(0, 1), ylim=(0, 1.02), ylabel='accuracy in bin', title=title)
    ax.legend(loc='upper left', fontsize=8)
    axc.set(xlabel='confidence (top-label probability)', ylabel='cases')
    fig.tight_layout()
    return fig


def risk_coverage_figure(coverage: np.ndarray,
                         risk: np.ndarray,
                         aurc: float,
                         operating_coverage=None):
    """Risk (error rate of the accepted lesions) against coverage, most
    confident first; a vertical line at the operating point's coverage."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    ax.step(
        np.r_[0, coverage],
        np.r_[risk[:1], risk],
        where='post',
        color='#1f3a5f',
        label=f'AURC {aurc:.3f}')
    if operating_coverage is not None and np.isfinite(operating_coverage):
        ax.axvline(
            operating_coverage,
            color='#b03030',
            linestyle='--',
            label=f'operating point ({operating_coverage:.0%} '
            'accepted)')
    ax.set(
        xlim=(0, 1.02),
        ylim=(-0.02, 1.02),
        xlabel='coverage',
        ylabel='risk (error rate of accepted)',
        title='Risk-coverage (lesions)')
    ax.legend(loc='upper left', fontsize=8)
    fig.tight_layout()
    return fig

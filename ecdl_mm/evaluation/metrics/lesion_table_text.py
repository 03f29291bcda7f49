# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The text table :class:`~.lesion_metric.LesionMetric` logs after every
evaluation (bound as its ``_table`` method)."""
from ..functional import CALIBRATION_BINS, RATES
from .lesion_keys import CALIBRATION, PER_CLASS

__all__ = ['lesion_table']


def lesion_table(metric, metrics, classes) -> str:
    """Every metric of both levels with interval and ``k/n``, the confusion
    matrices and, under an operating point, the selective metrics."""
    names = ['accuracy'] + [
        f'{n}_{c}' for n in PER_CLASS for c in list(classes) + ['macro']
    ] + ['auc_micro'] + list(CALIBRATION)
    counts = metric.extras.get('counts', {})

    def cell(level, name):
        val = metrics.get(f'{level}/{name}', float('nan'))
        text = f'{val:.4f}'
        lo = metrics.get(f'{level}/{name}_ci_lower')
        if lo is not None:
            hi = metrics[f'{level}/{name}_ci_upper']
            text += f' [{lo:.4f}, {hi:.4f}]'
        c = counts.get(f'{level}/{name}')
        if c is not None:
            text += f' {c["k"]}/{c["n"]}'
        return text

    width = max(len(n) for n in names) + 2
    boot = (f'; AUC, F1, macro: {metric.bootstrap_rounds} lesion '
            'bootstrap rounds' if metric.bootstrap_rounds else '')
    lines = [
        f'LesionMetric (aggregation={metric.aggregation}, '
        f'{metric.ci_level:.0%} CI: lesion rates Wilson, image rates '
        f'cluster-adjusted Wilson{boot}; ECE over {CALIBRATION_BINS} '
        'equal-width bins): '
        f'{metrics["image/num_images"]} images, '
        f'{metrics["lesion/num_lesions"]} lesions',
        f'{"metric":<{width}}{"image":<36}lesion'
    ]
    for name in names:
        lines.append(f'{name:<{width}}{cell("image", name):<36}'
                     f'{cell("lesion", name)}')
    for level in ('image', 'lesion'):
        lines.append(f'{level} confusion matrix (rows true, columns '
                     f'predicted; {", ".join(classes)}):')
        for row in metrics[f'{level}/confusion_matrix']:
            lines.append('  ' + ' '.join(f'{int(v):6d}' for v in row))
    if 'selective/coverage' in metrics:
        lines.append('selective (confident lesions under the operating '
                     'point):')
        for key in ['coverage', 'accuracy'
                    ] + [f'{n}_{c}' for n in RATES for c in classes]:
            lines.append(f'  {key:<{width}}{cell("selective", key)}')
        lines.append(f'  {"aurc":<{width}}'
                     f'{metrics["selective/aurc"]:.4f}')
    return '\n'.join(lines)

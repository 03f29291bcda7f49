# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A reader study from its two input files to its output folder, in-process:
what ``tools/analysis/reader_study.py`` and the reader app's "Run analysis"
button both call (the app needs no script on disk)."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from ..clinical import save_csv, save_json
from ..clinical.predictions import load_lesion_predictions
from ..clinical.reader_study import load_readers, run_reader_study
from .html import figure_png
from .reader_report import build_reader_report, reader_roc_figure

#: The tables written as ``<name>.csv``.
TABLES = ('reader_metrics', 'group_metrics', 'model_vs_readers',
          'session_comparison', 'mrmc')


def write_reader_study(model: str,
                       readers: str,
                       out_dir: str,
                       sessions: Optional[Sequence[str]] = None,
                       foms: Optional[Sequence[str]] = None,
                       bootstrap_rounds: int = 2000,
                       seed: int = 0,
                       ci_level: float = 0.95,
                       exact_below: int = 25,
                       title: str = 'Reader study',
                       note: Optional[str] = None) -> Tuple[dict, List[str]]:
    """Run the reader study of ``readers`` (readers.csv) against ``model``
    (its lesion_predictions.csv) and write ``out_dir/reader_study.json``,
    the CSVs of :data:`TABLES`, ``roc_readers.png`` and ``report.html``.

    Returns:
        tuple: The results (as in ``reader_study.json``) and the summary
        lines the command line prints.

    Raises:
        StudyDataError: A malformed or inconsistent input (one line naming
            the file and the row or field).
    """
    from ecdl_mm.utils.provenance import collect_provenance
    model_preds = load_lesion_predictions(model)
    reads = load_readers(readers, model_preds)
    results = run_reader_study(model_preds, reads, sessions, foms,
                               bootstrap_rounds, seed, ci_level, exact_below)
    os.makedirs(out_dir, exist_ok=True)
    results['provenance'] = collect_provenance(
        inputs=dict(model=model, readers=readers))
    save_json(results, osp.join(out_dir, 'reader_study.json'))
    for name in TABLES:
        save_csv(results[name], osp.join(out_dir, f'{name}.csv'))
    with open(osp.join(out_dir, 'roc_readers.png'), 'wb') as f:
        f.write(figure_png(reader_roc_figure(results, model_preds, reads)))
    report = build_reader_report(results, model_preds, reads, title, note)
    report.set_provenance(results['provenance'])
    report.save(osp.join(out_dir, 'report.html'))
    return results, summary_lines(results, reads, out_dir)


def summary_lines(results: dict, reads, out_dir: str) -> List[str]:
    """The command line's summary of a reader study."""
    lines = [
        f'{len(reads.readers)} readers, {results["num_lesions"]} lesions, '
        f'sessions {", ".join(reads.sessions)}'
    ]
    acc = [r for r in results['model'] if r['metric'] == 'accuracy'][0]
    lines.append(f'model accuracy {acc["value"]:.3f} '
                 f'[{acc["ci_lower"]:.3f}, {acc["ci_upper"]:.3f}]')
    for r in results['group_metrics']:
        if r['metric'] == 'accuracy':
            lines.append(f'{r["group"]:<14}{r["session"]:<14}accuracy '
                         f'{r["value"]:.3f} [{r["ci_lower"]:.3f}, '
                         f'{r["ci_upper"]:.3f}]')
    for r in results['mrmc']:
        if 'error' in r:
            lines.append(f'MRMC {r["group"]:<14}{r["fom"]:<30}not run: '
                         f'{r["error"]}')
            continue
        lines.append(f'MRMC {r["group"]:<14}{r["fom"]:<30}'
                     f'{r["reference"]:.3f} -> {r["new"]:.3f} '
                     f'diff {r["difference"]:+.3f} [{r["ci_lower"]:.3f}, '
                     f'{r["ci_upper"]:.3f}] F={r["f"]:.2f} '
                     f'ddf={r["df2"]:.1f} p={r["p_value"]:.4f}')
    for a in results['agreement']:
        for f in a['fleiss']:
            lines.append(f'Fleiss kappa {a["session"]:<14}{f["group"]:<14}'
                         f'{f["kappa"]:.3f}')
    lines.append(f'wrote reader_study.json, CSVs, roc_readers.png, '
                 f'report.html to {out_dir}')
    return lines

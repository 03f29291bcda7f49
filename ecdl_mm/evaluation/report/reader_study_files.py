# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A reader study from its two input files to its output folder, in-process:
what ``tools/analysis/reader_study.py`` and the reader app's "Run analysis"
button both call (the app needs no script on disk)."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from ..clinical import save_csv, save_json
from ..clinical.predictions import load_lesion_predictions
from ..clinical.reader_pivi import reader_pivi
from ..clinical.reader_study import load_readers, run_reader_study
from .html import figure_png
from .reader_report import build_reader_report, reader_roc_figure
from .subgroup_report import add_reader_pivi_section

#: The tables written as ``<name>.csv``.
TABLES = ('reader_metrics', 'group_metrics', 'model_vs_readers',
          'session_comparison', 'mrmc')


def write_reader_study(
        model: str,
        readers: str,
        out_dir: str,
        sessions: Optional[Sequence[str]] = None,
        foms: Optional[Sequence[str]] = None,
        bootstrap_rounds: int = 2000,
        seed: int = 0,
        ci_level: float = 0.95,
        exact_below: int = 25,
        title: str = 'Reader study',
        note: Optional[str] = None,
        guideline: str = 'usmstf2020') -> Tuple[dict, List[str]]:
    """Run the reader study of ``readers`` (readers.csv) against ``model``
    (its lesion_predictions.csv) and write ``out_dir/reader_study.json``,
    the CSVs of :data:`TABLES`, ``pivi.csv``, ``roc_readers.png`` and
    ``report.html``. With ``size_mm`` / ``location`` / ``patient_id`` in the
    model's CSV, both PIVI checks run for the model, every reader and every
    session (``guideline``: the surveillance table of resect-and-discard,
    :data:`ecdl_mm.evaluation.clinical.surveillance.GUIDELINES`).

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
    results['pivi'] = reader_pivi(
        model_preds, reads, guideline, ci_level=ci_level)
    os.makedirs(out_dir, exist_ok=True)
    results['provenance'] = collect_provenance(
        inputs=dict(model=model, readers=readers))
    save_json(results, osp.join(out_dir, 'reader_study.json'))
    for name in TABLES:
        save_csv(results[name], osp.join(out_dir, f'{name}.csv'))
    save_csv(pivi_rows(results['pivi']), osp.join(out_dir, 'pivi.csv'))
    with open(osp.join(out_dir, 'roc_readers.png'), 'wb') as f:
        f.write(figure_png(reader_roc_figure(results, model_preds, reads)))
    report = build_reader_report(results, model_preds, reads, title, note)
    add_reader_pivi_section(report, results['pivi'], ['pivi'])
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
    lines += list(results['pivi']['needs'])
    for r in pivi_rows(results['pivi']):
        if r.get('value') is not None:
            lines.append(f"PIVI {r['who']:<22}{r['session']:<14}"
                         f"{r['check']:<20}{r['value']:.3f} "
                         f"[{r['ci_lower']:.3f}, {r['ci_upper']:.3f}] "
                         f"{r['k']}/{r['n']}")
    lines.append(f'wrote reader_study.json, CSVs, roc_readers.png, '
                 f'report.html to {out_dir}')
    return lines


def pivi_rows(pivi: dict) -> List[dict]:
    """One row per who (model, all readers of a session, each reader) and
    PIVI check that could be assessed: the rows of ``pivi.csv``."""
    rows = []
    who = [('model', '', pivi['model'])]
    who += [(f"all readers ({s['readers']})", s['session'], s)
            for s in pivi['sessions']]
    who += [(r['reader'], r['session'], r) for r in pivi['readers']]
    for name, session, d in who:
        for check in ('diagnose_and_leave', 'resect_and_discard'):
            e = d.get(check)
            if e is None or not e.get('assessable', True):
                continue
            rows.append(
                dict(
                    who=name,
                    session=session,
                    check=check,
                    **{
                        k: e[k]
                        for k in ('value', 'k', 'n', 'ci_lower', 'ci_upper',
                                  'meets_threshold', 'lower_bound_meets')
                    }))
    return rows

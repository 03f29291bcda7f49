# Copyright (c) ecdl_mm contributors. All rights reserved.
# Reader study: endoscopists against the model, unassisted against assisted
# reading (multi-reader multi-case), agreement between readers:
#
#   python tools/analysis/reader_study.py --model lesion_predictions.csv \
#       --readers readers.csv --out-dir DIR [--sessions unassisted assisted]
#
# readers.csv: reader_id, group, session, lesion_id, diagnosis (a class
# name), optional confidence (higher = surer); one row per reader, session
# and lesion, every reader reading the same lesions in every session.
# Writes DIR/reader_study.json, reader_metrics.csv, group_metrics.csv,
# model_vs_readers.csv, session_comparison.csv, mrmc.csv, pivi.csv,
# roc_readers.png and report.html. With size_mm / location / patient_id in
# the model's CSV, both PIVI checks run for the model, every reader and every
# session (--guideline usmstf2020|esge2020 for resect-and-discard).
import argparse
import os
import os.path as osp

import ecdl_mm  # noqa: F401
from ecdl_mm.evaluation.clinical import (StudyDataError,
                                         load_lesion_predictions, load_readers,
                                         run_reader_study, save_csv, save_json)
from ecdl_mm.evaluation.clinical.reader_pivi import reader_pivi
from ecdl_mm.evaluation.clinical.surveillance import GUIDELINES
from ecdl_mm.evaluation.report import (build_reader_report, figure_png,
                                       reader_roc_figure)
from ecdl_mm.evaluation.report.subgroup_report import add_reader_pivi_section
from ecdl_mm.utils.cli import run_cli
from ecdl_mm.utils.provenance import collect_provenance


def parse_args():
    parser = argparse.ArgumentParser(description='reader study analysis')
    parser.add_argument(
        '--model', required=True, help="the model's lesion_predictions.csv")
    parser.add_argument('--readers', required=True, help='readers CSV')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument(
        '--sessions',
        nargs=2,
        metavar=('REFERENCE', 'NEW'),
        help='sessions to compare (default: unassisted assisted when the '
        'file has exactly those two)')
    parser.add_argument(
        '--foms',
        nargs='+',
        choices=['accuracy', 'sensitivity', 'specificity', 'auc'],
        help='MRMC figures of merit (default: all; auc needs confidence)')
    parser.add_argument('--bootstrap-rounds', type=int, default=2000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--ci-level', type=float, default=0.95)
    parser.add_argument('--exact-below', type=int, default=25)
    parser.add_argument(
        '--guideline',
        choices=list(GUIDELINES),
        default='usmstf2020',
        help='surveillance table for PIVI resect-and-discard')
    parser.add_argument('--title', default='Reader study')
    parser.add_argument(
        '--note', help='banner on the report, e.g. "simulated readers"')
    return parser.parse_args()


def pivi_rows(pivi):
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


def main():
    args = parse_args()
    model = load_lesion_predictions(args.model)
    reads = load_readers(args.readers, model)
    results = run_reader_study(model, reads, args.sessions, args.foms,
                               args.bootstrap_rounds, args.seed, args.ci_level,
                               args.exact_below)
    results['pivi'] = reader_pivi(
        model, reads, args.guideline, ci_level=args.ci_level)
    out = args.out_dir
    os.makedirs(out, exist_ok=True)
    results['provenance'] = collect_provenance(
        inputs=dict(model=args.model, readers=args.readers))
    save_json(results, osp.join(out, 'reader_study.json'))
    for name in ('reader_metrics', 'group_metrics', 'model_vs_readers',
                 'session_comparison', 'mrmc'):
        save_csv(results[name], osp.join(out, f'{name}.csv'))
    save_csv(pivi_rows(results['pivi']), osp.join(out, 'pivi.csv'))
    with open(osp.join(out, 'roc_readers.png'), 'wb') as f:
        f.write(figure_png(reader_roc_figure(results, model, reads)))
    report = build_reader_report(results, model, reads, args.title, args.note)
    add_reader_pivi_section(report, results['pivi'], ['pivi'])
    report.set_provenance(results['provenance'])
    report.save(osp.join(out, 'report.html'))

    print(f'{len(reads.readers)} readers, {results["num_lesions"]} lesions, '
          f'sessions {", ".join(reads.sessions)}')
    acc = [r for r in results['model'] if r['metric'] == 'accuracy'][0]
    print(f'model accuracy {acc["value"]:.3f} '
          f'[{acc["ci_lower"]:.3f}, {acc["ci_upper"]:.3f}]')
    for r in results['group_metrics']:
        if r['metric'] == 'accuracy':
            print(f'{r["group"]:<14}{r["session"]:<14}accuracy '
                  f'{r["value"]:.3f} [{r["ci_lower"]:.3f}, '
                  f'{r["ci_upper"]:.3f}]')
    for r in results['mrmc']:
        if 'error' in r:
            print(f'MRMC {r["group"]:<14}{r["fom"]:<30}not run: '
                  f'{r["error"]}')
            continue
        print(f'MRMC {r["group"]:<14}{r["fom"]:<30}'
              f'{r["reference"]:.3f} -> {r["new"]:.3f} '
              f'diff {r["difference"]:+.3f} [{r["ci_lower"]:.3f}, '
              f'{r["ci_upper"]:.3f}] F={r["f"]:.2f} '
              f'ddf={r["df2"]:.1f} p={r["p_value"]:.4f}')
    for a in results['agreement']:
        for f in a['fleiss']:
            print(f'Fleiss kappa {a["session"]:<14}{f["group"]:<14}'
                  f'{f["kappa"]:.3f}')
    for line in results['pivi']['needs']:
        print(line)
    for r in pivi_rows(results['pivi']):
        if r.get('value') is not None:
            print(f"PIVI {r['who']:<22}{r['session']:<14}{r['check']:<20}"
                  f"{r['value']:.3f} [{r['ci_lower']:.3f}, "
                  f"{r['ci_upper']:.3f}] {r['k']}/{r['n']}")
    print(f'wrote reader_study.json, CSVs, roc_readers.png, report.html to '
          f'{out}')


if __name__ == '__main__':
    run_cli(main, user_errors=(StudyDataError, ))

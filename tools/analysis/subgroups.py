# Copyright (c) ecdl_mm contributors. All rights reserved.
# Subgroup tables, per-centre meta-analysis, both PIVI checks (as ASGE
# defines them) and the STARD flow of a lesion_predictions.csv:
#
#   python tools/analysis/subgroups.py lesion_predictions.csv \
#       --by size_mm:<=5,6-9,>=10 --by location --by centre \
#       [--operating-point OP.json] [--guideline usmstf2020|esge2020] \
#       [--split-sheet dataset_divide.xlsx --evaluated-split demo_test] \
#       --out-dir DIR
#
# Without --by, the groupings of size_mm (<=5, 6-9, >=10), location, centre
# and morphology whose columns exist. Writes DIR/subgroups.json (every rate
# as {value, k, n, ci_lower, ci_upper}), subgroups_<column>.csv,
# heterogeneity.csv, forest_<rate>.png, flow.png and report.html.
import argparse
import os
import os.path as osp

import ecdl_mm  # noqa: F401
from ecdl_mm.evaluation.clinical import StudyDataError, save_csv, save_json
from ecdl_mm.evaluation.clinical.subgroup_study import run_subgroup_study
from ecdl_mm.evaluation.clinical.subgroup_tables import (flat_rows,
                                                         heterogeneity_rows,
                                                         sheet_splits)
from ecdl_mm.evaluation.clinical.surveillance import GUIDELINES
from ecdl_mm.evaluation.operating_point import (OperatingPoint,
                                                OperatingPointError)
from ecdl_mm.evaluation.report import HtmlReport, figure_png
from ecdl_mm.evaluation.report.subgroup_report import add_subgroup_sections
from ecdl_mm.utils.cli import run_cli
from ecdl_mm.utils.provenance import collect_provenance


def parse_args():
    parser = argparse.ArgumentParser(
        description='subgroup tables, centres, PIVI and study flow')
    parser.add_argument('predictions', help='lesion_predictions.csv')
    parser.add_argument(
        '--by',
        action='append',
        metavar='COL[:BINS]',
        help='grouping, e.g. size_mm:<=5,6-9,>=10 or location (repeatable)')
    parser.add_argument(
        '--operating-point',
        help='operating-point JSON: calibrate and defer here (else the '
        "CSV's uncertain column, if any)")
    parser.add_argument(
        '--guideline',
        choices=list(GUIDELINES),
        default='usmstf2020',
        help='surveillance table for resect-and-discard')
    parser.add_argument('--split-sheet', help='split sheet for the flow')
    parser.add_argument(
        '--evaluated-split', help='the sheet split the predictions are of')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--bootstrap-rounds', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--ci-level', type=float, default=0.95)
    parser.add_argument(
        '--min-group',
        type=int,
        default=30,
        help='groups with fewer lesions get a caveat')
    parser.add_argument('--title', default='Subgroups, centres and PIVI')
    return parser.parse_args()


def main():
    args = parse_args()
    op = (
        OperatingPoint.load(args.operating_point)
        if args.operating_point else None)
    splits = sheet_splits(args.split_sheet) if args.split_sheet else None
    study = run_subgroup_study(
        args.predictions,
        args.by,
        op,
        args.guideline,
        bootstrap_rounds=args.bootstrap_rounds,
        seed=args.seed,
        ci_level=args.ci_level,
        min_group=args.min_group,
        splits=splits,
        evaluated_split=args.evaluated_split)
    out = args.out_dir
    os.makedirs(out, exist_ok=True)
    study['provenance'] = collect_provenance(
        inputs=dict(predictions=args.predictions))
    save_json(study, osp.join(out, 'subgroups.json'))
    for t in study['groupings']:
        save_csv(
            flat_rows(t, study['classes']),
            osp.join(out, f"subgroups_{t['column']}.csv"))
    save_csv(heterogeneity_rows(study), osp.join(out, 'heterogeneity.csv'))
    from ecdl_mm.evaluation.clinical.centres import forest_figure
    from ecdl_mm.evaluation.clinical.flow import flow_figure, flow_text
    for metas in study['meta_analysis'].values():
        for name, m in metas.items():
            if 'pooled' in m:
                with open(osp.join(out, f'forest_{name}.png'), 'wb') as f:
                    f.write(figure_png(forest_figure(m, name)))
    with open(osp.join(out, 'flow.png'), 'wb') as f:
        f.write(figure_png(flow_figure(study['flow'])))
    rep = HtmlReport(args.title, f'source: {osp.abspath(args.predictions)}')
    rep.set_provenance(study['provenance'])
    add_subgroup_sections(rep, study, key_root=[])
    rep.save(osp.join(out, 'report.html'))

    for line in study['needs']:
        print(line)
    for t in study['groupings']:
        for g in t['groups']:
            a = g['accuracy']
            print(f"{t['column']:<12}{g['group']:<14}accuracy "
                  f"{a['value']:.3f} [{a['ci_lower']:.3f}, "
                  f"{a['ci_upper']:.3f}] {a['k']}/{a['n']}")
        h = t['heterogeneity']['accuracy']
        print(f"{t['column']:<12}heterogeneity of accuracy p="
              f"{h['p_value']:.4f}" +
              (f" ({h['note']})" if h.get('note') else ''))
    for key, p in study['pivi'].items():
        if not p['assessable'] or p['n'] == 0:
            print(p.get('reason') or f"{p['name']}: {p['note']}")
            continue
        print(f"{p['name']}: {p['value']:.3f} [{p['ci_lower']:.3f}, "
              f"{p['ci_upper']:.3f}] {p['k']}/{p['n']} "
              f"(>= {p['threshold']:.0%}: estimate "
              f"{'yes' if p['meets_threshold'] else 'no'}, lower bound "
              f"{'yes' if p['lower_bound_meets'] else 'no'})")
    a = study['pivi']['diagnose_and_leave']['all_lesions']
    print(f"{a['name']}: {a['value']:.3f} [{a['ci_lower']:.3f}, "
          f"{a['ci_upper']:.3f}] {a['k']}/{a['n']}")
    print(flow_text(study['flow']))
    print(f'wrote subgroups.json, CSVs, figures, report.html to {out}')


if __name__ == '__main__':
    run_cli(main, user_errors=(StudyDataError, OperatingPointError))

# Copyright (c) ecdl_mm contributors. All rights reserved.
# Planning a validation study:
#
#   # lesions so the lower 95% bound of the NPV stays above 0.90 if it is
#   # 0.95 (80% power); --fraction: share of lesions in the denominator
#   python tools/analysis/sample_size.py proportion --true 0.95 \
#       --threshold 0.90 [--method wilson|exact] [--fraction 0.3]
#   # positives and negatives for an AUC lower bound above 0.80 if it is 0.90
#   python tools/analysis/sample_size.py auc --true 0.90 --threshold 0.80
#   # readers x cases to detect an accuracy gain of 0.05 with AI, from the
#   # variance components of a pilot reader study
#   python tools/analysis/sample_size.py mrmc --pilot reader_study.json \
#       --fom accuracy --difference 0.05 [--readers 4 6 8 10]
#
# --out FILE.json also writes the answer as JSON.
import argparse
import json

import ecdl_mm  # noqa: F401
from ecdl_mm.evaluation.clinical import StudyDataError, save_json
from ecdl_mm.evaluation.clinical.sample_size import (auc_sample_size,
                                                     mrmc_sample_size,
                                                     proportion_sample_size)
from ecdl_mm.utils.cli import run_cli


def parse_args():
    parser = argparse.ArgumentParser(description='study sample sizes')
    sub = parser.add_subparsers(dest='kind', required=True)
    for name in ('proportion', 'auc'):
        p = sub.add_parser(name)
        p.add_argument('--true', type=float, required=True, dest='true_value')
        p.add_argument('--threshold', type=float, required=True)
        p.add_argument('--power', type=float, default=0.8)
        p.add_argument('--ci-level', type=float, default=0.95)
        p.add_argument('--out', help='also write the answer to this JSON')
    p = sub.choices['proportion']
    p.add_argument('--method', choices=['wilson', 'exact'], default='wilson')
    p.add_argument(
        '--fraction',
        type=float,
        default=1.0,
        help='share of all lesions in the denominator (e.g. diminutive '
        'rectosigmoid lesions called non-neoplastic)')
    sub.choices['auc'].add_argument(
        '--negatives-per-positive', type=float, default=1.0)
    p = sub.add_parser('mrmc')
    p.add_argument('--pilot', required=True, help="a reader_study.json")
    p.add_argument('--fom', default='accuracy')
    p.add_argument('--group', default='all readers')
    p.add_argument('--difference', type=float, required=True)
    p.add_argument(
        '--readers', type=int, nargs='+', default=[3, 4, 5, 6, 8, 10, 15])
    p.add_argument('--power', type=float, default=0.8)
    p.add_argument('--alpha', type=float, default=0.05)
    p.add_argument('--out', help='also write the answer to this JSON')
    return parser.parse_args()


def pilot_components(path: str, fom: str, group: str) -> dict:
    """The MRMC row of ``fom`` and ``group`` in a reader_study.json."""
    try:
        with open(path) as f:
            rows = json.load(f)['mrmc']
    except (OSError, ValueError, KeyError) as e:
        raise StudyDataError(f'{path} is not a reader_study.json with mrmc '
                             f'rows ({e})')
    for r in rows:
        if r.get('fom') == fom and r.get('group') == group:
            if 'error' in r:
                raise StudyDataError(f'{path}: the pilot MRMC of {fom} '
                                     f'({group}) did not run: {r["error"]}')
            return r
    have = sorted({f"{r.get('fom')} ({r.get('group')})" for r in rows})
    raise StudyDataError(f'{path} has no MRMC row for fom={fom!r} group='
                         f'{group!r} (has: {", ".join(have)})')


def main():
    args = parse_args()
    if args.kind == 'proportion':
        res = proportion_sample_size(args.true_value, args.threshold,
                                     args.power, args.ci_level, args.method,
                                     args.fraction)
        print(f"{res['n']} lesions in the denominator ({res['critical_k']} "
              f"successes needed; power {res['power']:.3f}); power stays >= "
              f"{args.power} from n = {res['n_stable']}; total lesions "
              f"{res['lesions_total']} (stable {res['lesions_total_stable']})"
              f" at fraction {args.fraction}")
    elif args.kind == 'auc':
        res = auc_sample_size(args.true_value, args.threshold, args.power,
                              args.ci_level, args.negatives_per_positive)
        print(f"{res['positives']} positives and {res['negatives']} "
              f"negatives ({res['total']} lesions)")
    else:
        comp = pilot_components(args.pilot, args.fom, args.group)
        rows = mrmc_sample_size(comp, args.difference, args.readers,
                                args.power, args.alpha)
        res = dict(
            pilot=args.pilot,
            fom=args.fom,
            group=args.group,
            difference=args.difference,
            power_target=args.power,
            designs=rows)
        for r in rows:
            print(f"{r['readers']:>3} readers: " +
                  (f"{r['cases']} cases (power {r['power']:.3f})"
                   if r['cases'] else 'no number of cases reaches the power'
                   ' (reader variance dominates)'))
    if args.out:
        save_json(res, args.out)


if __name__ == '__main__':
    run_cli(main, user_errors=(StudyDataError, ValueError))

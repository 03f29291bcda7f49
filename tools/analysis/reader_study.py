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

import ecdl_mm  # noqa: F401
from ecdl_mm.evaluation.clinical import StudyDataError
from ecdl_mm.evaluation.clinical.surveillance import GUIDELINES
from ecdl_mm.evaluation.report.reader_study_files import write_reader_study
from ecdl_mm.utils.cli import run_cli


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


def main():
    args = parse_args()
    _, lines = write_reader_study(args.model, args.readers, args.out_dir,
                                  args.sessions, args.foms,
                                  args.bootstrap_rounds, args.seed,
                                  args.ci_level, args.exact_below, args.title,
                                  args.note, args.guideline)
    print('\n'.join(lines))


if __name__ == '__main__':
    run_cli(main, user_errors=(StudyDataError, ))

# Copyright (c) ecdl_mm contributors. All rights reserved.
# One self-contained HTML report (tables, confusion matrices, ROC curves,
# thumbnails of the worst-misclassified lesions) of a test run, from what
# LesionMetric writes with out_dir set:
#
#   python tools/analysis/lesion_report.py OUT_DIR [--out report.html]
#
# (tools/test.py --report writes it at the end of a test.)
import argparse

import ecdl_mm  # noqa: F401
from ecdl_mm.evaluation.clinical import StudyDataError
from ecdl_mm.evaluation.report import write_lesion_report
from ecdl_mm.utils.cli import run_cli


def parse_args():
    parser = argparse.ArgumentParser(
        description='HTML report of a LesionMetric out_dir')
    parser.add_argument(
        'out_dir',
        help='folder with metrics.json, lesion_predictions.csv '
        'and image_predictions.csv')
    parser.add_argument(
        '--out', help='output HTML (default OUT_DIR/report.html)')
    parser.add_argument('--title', help='page title')
    parser.add_argument(
        '--max-gallery',
        type=int,
        default=12,
        help='misclassified lesions shown with thumbnails')
    return parser.parse_args()


def main():
    args = parse_args()
    path = write_lesion_report(
        args.out_dir, args.out, title=args.title, max_gallery=args.max_gallery)
    print(f'wrote {path}')


if __name__ == '__main__':
    run_cli(main, user_errors=(StudyDataError, ))

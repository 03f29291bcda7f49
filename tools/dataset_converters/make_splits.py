# Copyright (c) ecdl_mm contributors. All rights reserved.
# Write stratified, lesion-grouped (patient-grouped when patient ids are known)
# split sheets for ECNBIDataset, with a fixed seed.
#
#   # train/val/test sheets from the folders of a cohort
#   python tools/dataset_converters/make_splits.py DATA_ROOT \
#       --out splits.xlsx --ratios 0.7 0.1 0.2 --seed 0
#   # 5-fold sheets (fold0_train, fold0_val, ...) from an existing lesion list
#   # that has a patient_id column
#   python tools/dataset_converters/make_splits.py DATA_ROOT --out folds.xlsx \
#       --lesions lesions.csv --folds 5
#
#   # stratified by class, size bin and location, whole centres kept together
#   python tools/dataset_converters/make_splits.py DATA_ROOT --out s.xlsx \
#       --lesions lesions.csv --stratify size_mm:<=5,6-9,>=10 location \
#       --group-by centre
#
# The metadata columns of --lesions (centre, size_mm, location, morphology,
# and --extra-columns) are checked and written into every sheet.
# --out ending in .xlsx writes one workbook with one sheet per split; any other
# --out is a folder that gets one <split>.csv per split. Columns: class_index,
# class_english, lesion_index[, patient_id]. Use them with
#   dict(type='ECNBIDataset', ann_file='splits.xlsx', sheet_name='train',
#        disjoint_with=['test'])
import argparse

from ecdl_mm.datasets import make_splits
from ecdl_mm.utils.cli import run_cli


def parse_args():
    parser = argparse.ArgumentParser(
        description='Write stratified, lesion- or patient-grouped split '
        'sheets (train/val/test or k folds) for ECNBIDataset')
    parser.add_argument('data_root', help='root of <class>/<lesion>/Images')
    parser.add_argument(
        '--out',
        required=True,
        help='.xlsx workbook, or a folder for .csv files')
    parser.add_argument(
        '--lesions',
        help='lesion list (.csv/.xlsx sheet '
        'with an optional patient_id column) instead of '
        'every lesion folder; relative to data_root')
    parser.add_argument('--sheet-name', help='sheet of --lesions')
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--ratios',
        type=float,
        nargs=3,
        metavar=('TRAIN', 'VAL', 'TEST'),
        default=(0.7, 0.1, 0.2))
    group.add_argument('--folds', type=int, help='k-fold cross-validation')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--stratify',
        nargs='+',
        default=(),
        metavar='COL[:BINS]',
        help='also stratify by these columns of --lesions (class always); '
        'a numeric column with bins, e.g. size_mm:<=5,6-9,>=10')
    parser.add_argument(
        '--group-by',
        default='patient',
        metavar='patient|lesion|COL',
        help='keep together the lesions of a patient (default; lesions '
        'without patient_id alone), of nothing (lesion) or sharing a '
        'column value (e.g. centre)')
    parser.add_argument(
        '--extra-columns',
        nargs='+',
        default=(),
        metavar='COL',
        help='other columns of --lesions to carry into the sheets')
    parser.add_argument(
        '--classes',
        nargs='+',
        default=None,
        help='class names in order (default: ECNBIDataset)')
    return parser.parse_args()


def main():
    args = parse_args()
    splits = make_splits(args.data_root, args.out, args.lesions,
                         args.sheet_name, args.ratios, args.folds, args.seed,
                         args.classes, args.stratify, args.group_by,
                         args.extra_columns)
    for name, part in splits.items():
        counts = part['class_english'].value_counts().to_dict()
        print(f'{name}: {len(part)} lesions {counts}')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    run_cli(main)

# Copyright (c) ecdl_mm contributors. All rights reserved.
# SYNTHETIC lesion metadata for the demo lesions, drawn at random with a seed
# (patient_id, centre, size_mm, location, morphology; loosely by class), so
# that the metadata tables (subgroups, PIVI, surveillance) have something to
# show. None of it describes the real lesions.
#   python tools/misc/make_demo_metadata.py OUT_DIR [--demo-root DIR]
#       [--workbook dataset_divide.xlsx] [--seed 0]
# Writes OUT_DIR/dataset_divide_SYNTHETIC_metadata.xlsx: the demo's split
# sheets (demo_train, demo_test) with the extra columns and an `about` sheet.
# Use it as the ann_file of the demo configs, e.g.
#   --cfg-options test_dataloader.dataset.ann_file=$PWD/OUT_DIR/...xlsx
import argparse
import os.path as osp

from ecdl_mm.datasets.synthetic_metadata import write_demo_metadata
from ecdl_mm.utils.cli import run_cli
from ecdl_mm.utils.demo_data import default_demo_root

DEFAULT_ROOT = default_demo_root()


def main():
    parser = argparse.ArgumentParser(
        description='SYNTHETIC lesion metadata for the demo split sheets')
    parser.add_argument('out_dir', help='work dir for the synthetic copy')
    parser.add_argument(
        '--demo-root',
        default=DEFAULT_ROOT,
        help='demo data (default $ECDL_DEMO_ROOT, else '
        '../shared/datasets/ecdl-demo)')
    parser.add_argument(
        '--workbook',
        default='dataset_divide.xlsx',
        help='split workbook, relative to --demo-root')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    workbook = osp.join(args.demo_root, args.workbook)
    if not osp.isfile(workbook):
        raise FileNotFoundError(f'split workbook {workbook} not found')
    out = write_demo_metadata(workbook, args.out_dir, args.seed)
    for name, df in out['sheets'].items():
        print(f'{name}: {len(df)} lesions, {df["patient_id"].nunique()} '
              f'patients, {df["centre"].nunique()} centres, '
              f'{int((df["size_mm"] <= 5).sum())} diminutive')
    print(f'wrote {out["path"]} (SYNTHETIC metadata, seed {args.seed}: '
          'random values, not the real lesions)')


if __name__ == '__main__':
    run_cli(main, user_errors=(ValueError, ))

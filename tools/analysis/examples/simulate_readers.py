# Copyright (c) ecdl_mm contributors. All rights reserved.
# SIMULATED reader data for the reader-study example (no real endoscopist
# read these lesions): 3 "expert" and 3 "non-expert" simulated readers
# diagnose every lesion of a split sheet without and with AI assistance.
#
#   python tools/analysis/examples/simulate_readers.py \
#       ../shared/datasets/ecdl-demo/dataset_divide.xlsx --sheet demo_test \
#       --out tools/analysis/examples/readers_simulated_demo.csv --seed 0
#
# Model: P(correct) = sigmoid(reader skill + assistance gain + lesion
# difficulty + reader-by-lesion effect); a wrong read picks another class at
# random; confidence 1-5, higher when right. The model's predictions are not
# used: the simulated "assistance" is a fixed gain, not a reaction to AI.
# Lesion ids are '<cohort>/<lesion_index>' as LesionMetric writes them
# (cohort: --cohort, default the name of the sheet's folder, e.g. ecdl-demo).
import argparse
import os.path as osp

import numpy as np
import pandas as pd

GROUPS = {'expert': (1.3, 0.6), 'non-expert': (0.3, 1.0)}  # skill, gain


def parse_args():
    parser = argparse.ArgumentParser(description='simulated reader reads')
    parser.add_argument('split', help='split sheet (.xlsx or .csv)')
    parser.add_argument('--sheet', default='demo_test')
    parser.add_argument('--out', required=True, help='output CSV')
    parser.add_argument('--readers-per-group', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cohort',
        help='lesion id prefix (default: the name of the folder of the '
        'split sheet, as ECNBIDataset names the cohort after its data_root)')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.split.endswith('.csv'):
        split = pd.read_csv(args.split)
    else:
        split = pd.read_excel(args.split, sheet_name=args.sheet)
    classes = (
        split.drop_duplicates('class_index').sort_values('class_index')
        ['class_english'].tolist())
    cohort = args.cohort or osp.basename(osp.dirname(osp.abspath(args.split)))
    lesions = [
        f'{cohort}/{x}' for x in split['lesion_index'].astype(str).tolist()
    ]
    truth = split['class_index'].to_numpy()
    rng = np.random.default_rng(args.seed)
    difficulty = rng.normal(0, 0.8, len(lesions))
    rows = []
    for group, (skill, gain) in GROUPS.items():
        for i in range(args.readers_per_group):
            reader = f'SIM-{"E" if group == "expert" else "N"}{i + 1}'
            own = skill + rng.normal(0, 0.3)
            shared = rng.normal(0, 0.5, len(lesions))  # across sessions
            for session, g in (('unassisted', 0.0), ('assisted', gain)):
                logit = own + g - difficulty + shared
                right = rng.random(len(lesions)) < 1 / (1 + np.exp(-logit))
                for lid, y, ok in zip(lesions, truth, right):
                    if ok:
                        diag = y
                        conf = rng.choice([3, 4, 5], p=[0.2, 0.4, 0.4])
                    else:
                        diag = rng.choice(
                            [k for k in range(len(classes)) if k != y])
                        conf = rng.choice([1, 2, 3, 4], p=[0.3, 0.3, 0.3, 0.1])
                    rows.append(
                        dict(
                            reader_id=reader,
                            group=group,
                            session=session,
                            lesion_id=lid,
                            diagnosis=classes[diag],
                            confidence=int(conf)))
    pd.DataFrame(rows).to_csv(args.out, index=False)
    print(f'wrote {len(rows)} SIMULATED reads to {args.out}')


if __name__ == '__main__':
    main()

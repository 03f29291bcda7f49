# Copyright (c) ecdl_mm contributors. All rights reserved.
# Copy a dataset with a restart marker after every MCU of each JPEG (lossless:
# the same pixels, checked per file) and their index, so that the training
# crops (LoadRandomResizedCrop) Huffman-decode only each box's MCUs:
# 0.37 ms less per 224 px crop of a 1160x1009 EC-NBI frame, 18% larger JPEGs
# (docs/benchmarks.md). Needs jpegtran (apt-get install libjpeg-turbo-progs).
#
#   python tools/dataset_converters/add_restart_markers.py data/ecnbi \
#       data/ecnbi-rst --workers 8
#   # then train with data_root='data/ecnbi-rst' (e.g. --cfg-options
#   # train_dataloader.dataset.data_root=data/ecnbi-rst)
import argparse

from ecdl_mm.datasets import add_restart_markers
from ecdl_mm.utils.cli import run_cli


def parse_args():
    parser = argparse.ArgumentParser(
        description='Copy a dataset with restart-marked JPEGs (lossless) '
        'for faster training crops')
    parser.add_argument('src', help='the dataset folder')
    parser.add_argument('dst', help='the copy (a new or empty folder)')
    parser.add_argument(
        '--workers', type=int, default=2, help='files converted at once')
    parser.add_argument(
        '--jpegtran', help='the jpegtran program (default: on PATH)')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip decoding each file twice to check its pixels')
    return parser.parse_args()


def main():
    args = parse_args()
    stats = add_restart_markers(
        args.src,
        args.dst,
        jpegtran=args.jpegtran,
        workers=args.workers,
        verify=not args.no_verify)
    grow = stats['jpeg_bytes_out'] / max(stats['jpeg_bytes_in'], 1) - 1
    print(f"{stats['converted']} JPEGs restart-marked ({grow:+.1%} bytes), "
          f"{stats['kept']} JPEGs kept as they are, "
          f"{stats['copied']} other files copied: "
          f'{args.dst}')
    for rel, why in stats['kept_files'][:10]:
        print(f'  kept {rel}: {why}')
    if stats['kept'] > 10:
        print(f"  ... and {stats['kept'] - 10} more")


if __name__ == '__main__':
    run_cli(main)

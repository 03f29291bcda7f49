# Copyright (c) ecdl_mm contributors. All rights reserved.
# A demo EC-NBI video synthesized from the real demo stills, with per-frame
# ground truth (approach defocus -> focus, contact, motion blur, halation,
# moves between lesions):
#   python tools/misc/make_demo_video.py OUT.avi [--demo-root DIR]
#       [--num-lesions N] [--fps 30] [--width W] [--seed 0] [--split demo_test]
# Writes OUT.avi (MJPG; .mp4 works too, but OpenCV's mp4v leaves block
# residue that can make a blurred frame look sharp), OUT.frames.csv (per
# frame), OUT.labels.csv (per lesion, for tools/realtime.py --labels) and
# OUT.json.
import argparse
import os.path as osp
import sys

from ecdl_mm.live.demo_video import make_demo_video
from ecdl_mm.utils.cli import renamed_option, run_cli
from ecdl_mm.utils.demo_data import default_demo_root

DEFAULT_ROOT = default_demo_root()


def main():
    parser = argparse.ArgumentParser(
        description='EC-NBI demo video synthesized from the real demo '
        'stills, with per-frame ground truth')
    parser.add_argument(
        'out', help='video path (.avi: MJPG, faithful; .mp4: mp4v)')
    parser.add_argument(
        '--demo-root',
        default=DEFAULT_ROOT,
        help='demo data (default $ECDL_DEMO_ROOT, else '
        '../shared/datasets/ecdl-demo)')
    parser.add_argument(
        '--num-lesions',
        type=int,
        default=6,
        help='how many lesions the video visits (default 6)')
    renamed_option(parser, '--lesions', '--num-lesions')
    parser.add_argument('--fps', type=float, default=30.0)
    parser.add_argument(
        '--width',
        type=int,
        default=None,
        help='frame width (default: the stills\' 1160; the '
        'gate\'s focus thresholds are for that resolution)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--split',
        default='demo_test',
        help="lesions of this sheet of dataset_divide.xlsx "
        "(default demo_test, which the demo model never "
        "trained on); 'all' for every lesion")
    args = parser.parse_args()
    if not osp.isdir(args.demo_root):
        raise FileNotFoundError(f'demo data {args.demo_root} not found')
    out = make_demo_video(
        args.demo_root,
        args.out,
        args.num_lesions,
        args.fps,
        args.width,
        args.seed,
        split=None if args.split == 'all' else args.split)
    print(f"{out['video']}: {out['frames']} frames; ground truth "
          f"{out['frames_csv']}, {out['labels_csv']} (synthesized from the "
          'real demo stills)')


if __name__ == '__main__':
    sys.exit(run_cli(main))

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Convert a timm VisionTransformer checkpoint to ecdl_mm keys.

    python tools/model_converters/timm_to_mmpretrain.py SRC DST

DST holds ``{'state_dict', 'meta'}``: ``backbone.*`` loads into ``ECViT``,
``head.fc.*`` into ``LinearClsHead``; the report lists dropped, missing and
unexpected keys. Files are read without running pickled code.
"""
import argparse

from ecdl_mm.utils.cli import run_cli
from ecdl_mm.utils.model_converter import convert_file, format_report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'src',
        help='source checkpoint: a path or a URL (downloaded to the '
        'torch hub cache)')
    parser.add_argument('dst', help='output path')
    args = parser.parse_args(argv)
    print(format_report(convert_file(args.src, args.dst, 'timm')))
    print(f'saved to {args.dst}')


if __name__ == '__main__':
    run_cli(main)

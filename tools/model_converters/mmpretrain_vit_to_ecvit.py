# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Convert an mmpretrain VisionTransformer / MAEViT / BEiTViT checkpoint to
ecdl_mm keys.

    python tools/model_converters/mmpretrain_vit_to_ecvit.py SRC DST

DST holds ``{'state_dict', 'meta'}``: ``backbone.*`` loads into ``ECViT``,
``head.fc.*`` into ``LinearClsHead``; the report lists dropped, missing and
unexpected keys. Files are read without running pickled code.
"""
from ecdl_mm.models.utils.model_converter import converter_main
from ecdl_mm.utils.cli import run_cli


def main(argv=None):
    converter_main('mmpretrain', __doc__, argv)


if __name__ == '__main__':
    run_cli(main)

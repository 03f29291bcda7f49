# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Convert an official MAE (FAIR) pre-training or fine-tuning checkpoint to
ecdl_mm keys.

    python tools/model_converters/mae_to_mmpretrain.py SRC DST

DST holds ``{'state_dict', 'meta'}``: ``backbone.*`` loads into ``ECViT``,
``head.fc.*`` into ``LinearClsHead``; the report lists dropped, missing and
unexpected keys. Files are read without running pickled code.
"""
from ecdl_mm.models.utils.model_converter import converter_main
from ecdl_mm.utils.cli import run_cli


def main(argv=None):
    converter_main('mae', __doc__, argv)


if __name__ == '__main__':
    run_cli(main)

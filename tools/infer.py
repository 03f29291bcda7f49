# Copyright (c) ecdl_mm contributors. All rights reserved.
# Lesion-level inference: one diagnosis per lesion from its images.
#   python tools/infer.py CONFIG CKPT PATH... [--out-csv F] [--out-json F]
#                         [--batch-size N] [--device cpu] [--aggregation mean]
#                         [--threads N] [--lesion-per-folder]
#                         [--operating-point op.json] [--num-workers N]
#                         [--backend eager|...|cuda-graph] [--precision fp16]
#                         [--preprocess auto|pipeline|device]
#                         [--metadata SHEET [--metadata-sheet NAME]
#                          [--extra-columns COL ...]]
# PATH: an image, a lesion folder (images inside or in Images/), or a folder of
# lesion folders such as <root>/<class>/<lesion>/Images. Lesion ids are
# <cohort>/<lesion> as in LesionMetric (ecdl-demo/730); when the layout gives
# the class, the CSV has gt_label / gt_class and feeds compare_models.py and
# reader_study.py. Loose images in a folder are each their own lesion (with a
# warning) unless --lesion-per-folder. --metadata: a split sheet whose
# patient_id / centre / size_mm / location / morphology (and --extra-columns)
# go into the CSV, matched on the lesion index (the last part of the id).
import argparse
import os.path as osp
import warnings

import torch

import ecdl_mm  # noqa: F401  registers components, safe checkpoint loading
from ecdl_mm.apis import LesionInferencer, LesionInputError, LooseImagesWarning
from ecdl_mm.datasets.lesion_metadata import sheet_metadata
from ecdl_mm.datasets.split_sheet import load_split_sheet
from ecdl_mm.deploy import GPUOnlyError
from ecdl_mm.evaluation.metrics.lesion_metric import AGGREGATIONS
from ecdl_mm.evaluation.operating_point import OperatingPointError
from ecdl_mm.inference.device_decode import DECODE_MODES
from ecdl_mm.inference.options import add_backend_options
from ecdl_mm.utils.cli import run_cli
from ecdl_mm.utils.provenance import collect_provenance, write_sidecar


def parse_args():
    parser = argparse.ArgumentParser(
        description='Diagnose lesions (one prediction per lesion folder)')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        'paths',
        nargs='+',
        metavar='PATH',
        help='image, lesion folder or folder of lesion folders')
    parser.add_argument('--out-csv', help='write one row per lesion here')
    parser.add_argument(
        '--out-json', help='write lesion and image results here')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=16,
        help='images per forward pass (default 16)')
    parser.add_argument(
        '--device',
        default=None,
        help='cpu, cuda or cuda:N (default: cuda if available, else cpu)')
    parser.add_argument(
        '--aggregation',
        default='mean',
        choices=AGGREGATIONS,
        help='image-to-lesion aggregation, as LesionMetric (default: mean '
        'of probabilities)')
    parser.add_argument(
        '--lesion-per-folder',
        action='store_true',
        help='the images lying directly in any folder are one lesion '
        '(default: one lesion each, with a warning, unless the folder is an '
        'Images/ folder or sits in a class folder)')
    parser.add_argument(
        '--operating-point',
        metavar='OP_JSON',
        help='operating point (tools/analysis/fit_operating_point.py): '
        'test-time view, calibrated probabilities and an `uncertain` column')
    parser.add_argument(
        '--metadata',
        metavar='SHEET',
        help='split sheet (.csv/.xlsx) with lesion metadata (patient_id, '
        'centre, size_mm, location, morphology) for the CSV, matched on '
        'lesion_index')
    parser.add_argument('--metadata-sheet', help='sheet of --metadata')
    parser.add_argument(
        '--extra-columns',
        nargs='+',
        default=(),
        metavar='COL',
        help='other columns of --metadata to carry into the CSV')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='CPU threads (default: torch\'s, one per physical core); on a '
        'shared machine or for tiny models 1-2 is often fastest')
    parser.add_argument(
        '--num-workers',
        type=int,
        default=0,
        help='threads decoding images while the model runs '
        '(default 0: decode in the main process)')
    add_backend_options(parser)
    parser.add_argument(
        '--decode',
        choices=DECODE_MODES,
        default='auto',
        help='where JPEGs are decoded: cpu (the loading transform, in the '
        'threads), device (in one batched call on the model\'s device, '
        'nvJPEG on a GPU; needs --preprocess device or auto on a GPU) or '
        'auto (default: device when the pre-processing runs on a GPU, else '
        'cpu)')
    parser.add_argument(
        '--no-progress',
        action='store_true',
        help='hide the progress bar (it goes to stderr, and only when '
        'stderr is a terminal)')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.batch_size < 1:
        raise LesionInputError(
            f'--batch-size {args.batch_size} must be a positive integer')
    if args.num_workers < 0:
        raise LesionInputError(
            f'--num-workers {args.num_workers} must be an integer >= 0')
    # before the model is loaded: input mistakes show at once
    for path in args.paths:
        if not osp.exists(path):
            raise FileNotFoundError(f'input {path!r} does not exist')
    with warnings.catch_warnings():  # warned once, below, with the classes
        warnings.simplefilter('ignore', LooseImagesWarning)
        LesionInferencer.find_lesions(args.paths)
    metadata = None
    if args.metadata:
        metadata = sheet_metadata(
            load_split_sheet(
                args.metadata,
                args.metadata_sheet,
                extra_columns=args.extra_columns))
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    inferencer = LesionInferencer(
        args.config,
        args.checkpoint,
        device=device,
        aggregation=args.aggregation,
        num_threads=args.threads,
        lesion_per_folder=args.lesion_per_folder,
        operating_point=args.operating_point,
        backend=args.backend,
        precision=args.precision,
        preprocess=args.preprocess,
        num_workers=args.num_workers,
        decode=args.decode)
    results = inferencer(
        args.paths,
        batch_size=args.batch_size,
        show_progress=False if args.no_progress else None)
    width = max(len(r['lesion_id']) for r in results)
    op = f', operating point {args.operating_point} (calibrated)' \
        if args.operating_point else ''
    print(f'{len(results)} lesion(s), aggregation={args.aggregation}{op}')
    for r in results:
        probs = '  '.join(
            f'{c}={p:.3f}'
            for c, p in zip(inferencer.classes, r['pred_scores']))
        flag = '  uncertain' if r.get('uncertain') else ''
        print(f'{r["lesion_id"]:<{width}}  {r["pred_class"]:<16} '
              f'({r["num_images"]} image(s))  {probs}{flag}')
    # where the predictions came from, beside each file (the CSV stays a
    # plain table that compare_models.py and pandas read)
    provenance = collect_provenance(
        config=args.config,
        checkpoint=args.checkpoint,
        data_root=osp.commonpath([osp.abspath(p) for p in args.paths]))
    if args.operating_point:
        provenance['operating_point'] = osp.abspath(args.operating_point)
    if metadata is not None:
        missing = [
            r['lesion_id'] for r in results
            if r['lesion_id'].rsplit('/', 1)[-1] not in metadata
        ]
        if missing:
            print(f'{len(missing)} lesion(s) have no row in {args.metadata} '
                  f'(empty metadata): {", ".join(missing[:10])}')
    if args.out_csv:
        inferencer.dump_csv(results, args.out_csv, metadata)
        write_sidecar(args.out_csv, provenance)
        print(f'wrote {args.out_csv}')
    if args.out_json:
        inferencer.dump_json(results, args.out_json)
        write_sidecar(args.out_json, provenance)
        print(f'wrote {args.out_json}')


if __name__ == '__main__':
    run_cli(
        main,
        user_errors=(LesionInputError, OperatingPointError, GPUOnlyError))

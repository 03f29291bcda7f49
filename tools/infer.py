# Lesion-level inference: one diagnosis per lesion from its images.
#   python tools/infer.py CONFIG CKPT PATH... [--out-csv F] [--out-json F]
#                         [--batch-size N] [--device cpu] [--aggregation mean]
#                         [--threads N]
# PATH: an image, a lesion folder (images inside or in Images/), or a folder of
# lesion folders such as <root>/<class>/<lesion>/Images.
import argparse
import os.path as osp

import torch

import ecdl_mm  # noqa: F401  registers components, safe checkpoint loading
from ecdl_mm.apis import LesionInferencer
from ecdl_mm.utils.cli import run_cli


def parse_args():
    parser = argparse.ArgumentParser(
        description='Diagnose lesions (one prediction per lesion folder)')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        'paths', nargs='+', metavar='PATH',
        help='image, lesion folder or folder of lesion folders')
    parser.add_argument('--out-csv', help='write one row per lesion here')
    parser.add_argument(
        '--out-json', help='write lesion and image results here')
    parser.add_argument(
        '--batch-size', type=int, default=16,
        help='most images of one lesion per forward pass (default 16)')
    parser.add_argument(
        '--device', default=None,
        help='cpu, cuda or cuda:N (default: cuda if available, else cpu)')
    parser.add_argument(
        '--aggregation', default='mean', choices=['mean', 'vote', 'max'],
        help='image-to-lesion aggregation (default: mean of probabilities)')
    parser.add_argument(
        '--threads', type=int, default=None,
        help='CPU threads (default: torch\'s, one per physical core); on a '
        'shared machine or for tiny models 1-2 is often fastest')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    return parser.parse_args()


def main():
    args = parse_args()
    for path in args.paths:  # before the model is loaded
        if not osp.exists(path):
            raise FileNotFoundError(f'input {path!r} does not exist')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    inferencer = LesionInferencer(
        args.config, args.checkpoint, device=device,
        aggregation=args.aggregation, num_threads=args.threads)
    results = inferencer(
        args.paths, batch_size=args.batch_size,
        show_progress=not args.no_progress)
    width = max(len(r['lesion_id']) for r in results)
    print(f'\n{len(results)} lesion(s), aggregation={args.aggregation}')
    for r in results:
        probs = '  '.join(f'{c}={p:.3f}' for c, p in r['probs'].items())
        print(f'{r["lesion_id"]:<{width}}  {r["pred_class"]:<16} '
              f'({r["num_images"]} image(s))  {probs}')
    if args.out_csv:
        LesionInferencer.dump_csv(results, args.out_csv)
        print(f'wrote {args.out_csv}')
    if args.out_json:
        LesionInferencer.dump_json(results, args.out_json)
        print(f'wrote {args.out_json}')


if __name__ == '__main__':
    run_cli(main)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Lesion-level inference end to end: files on disk -> lesion diagnoses.

Times, on the demo test lesions (JPEG files read and decoded every pass):

- ``inferencer``: :class:`ecdl_mm.apis.LesionInferencer` (fp32) with the
  config's test pipeline decoding at full resolution (``LoadImageFromFile``
  in place of the shipped ``LoadResizedImage``);
- ``inferencer_fast_load``: the same with the test pipeline as shipped
  (``LoadResizedImage``; for a config that loads with ``LoadImageFromFile`` +
  ``ResizeEdge``, those two replaced by it);
- ``deploy_int8``: the lean CPU path of :mod:`ecdl_mm.deploy`: the
  fast-loading pipeline and the int8 TorchScript model, the images of a
  lesion in one batch, probabilities averaged per lesion.

Each variant runs with the same threads (``--threads``, default 1: per-core
figures) under ``torch.inference_mode``; the
variants alternate round by round. Also reports the lesion-level agreement of
the two other variants with ``inferencer``. Random weights unless
``--checkpoint`` is given (speed does not depend on them; agreement does).

    python benchmarks/bench_lesion_inference.py [--config CFG] \
        [--checkpoint CKPT]
"""
import argparse
import copy
import os.path as osp

import _common  # noqa: F401  (puts the repo on sys.path)
import numpy as np
import torch
from _common import (DEFAULT_DEMO_ROOT, REPO_ROOT, full_decode_pipeline,
                     interleaved, median, print_table, save_result)

DEFAULT_CONFIG = osp.join(REPO_ROOT, 'configs', 'ecdl',
                          'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py')


def fast_test_pipeline(pipeline):
    """Replace ``LoadImageFromFile`` (+ ``ResizeEdge``) by LoadResizedImage."""
    pipeline = copy.deepcopy(list(pipeline))
    if pipeline[0]['type'] != 'LoadImageFromFile':
        return pipeline
    if len(pipeline) > 1 and pipeline[1]['type'] == 'ResizeEdge':
        resize = pipeline.pop(1)
        load = dict(
            type='LoadResizedImage',
            scale=resize['scale'],
            edge=resize.get('edge', 'short'),
            backend=resize.get('backend', 'cv2'),
            interpolation=resize.get('interpolation', 'bilinear'))
    else:
        return pipeline
    pipeline[0] = load
    return pipeline


def demo_test_lesions(demo_root, sheet='demo_test'):
    import pandas as pd
    sheet_df = pd.read_excel(
        osp.join(demo_root, 'dataset_divide.xlsx'), sheet_name=sheet)
    return [
        osp.join(demo_root, row.class_english, str(row.lesion_index))
        for row in sheet_df.itertuples()
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--demo-root', default=DEFAULT_DEMO_ROOT)
    parser.add_argument('--rounds', type=int, default=2)
    # One thread by default: per-core figures, stable on a shared machine
    # (several OpenMP threads on busy cores wait on each other at every op).
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()

    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmpretrain.registry import TRANSFORMS

    import ecdl_mm  # noqa: F401
    from ecdl_mm import deploy as tool
    from ecdl_mm.apis import LesionInferencer
    from ecdl_mm.utils import set_inference_threads
    set_inference_threads(args.threads)

    cfg = Config.fromfile(args.config)
    lesion_dirs = demo_test_lesions(args.demo_root)
    full_cfg = copy.deepcopy(cfg)
    full_cfg.test_dataloader.dataset.pipeline = full_decode_pipeline(
        cfg.test_dataloader.dataset.pipeline)
    inferencer = LesionInferencer(
        full_cfg, pretrained=args.checkpoint or False, device='cpu')
    fast_cfg = copy.deepcopy(cfg)
    fast_pipeline = fast_test_pipeline(cfg.test_dataloader.dataset.pipeline)
    fast_cfg.test_dataloader.dataset.pipeline = fast_pipeline
    fast_inferencer = LesionInferencer(
        fast_cfg, pretrained=False, device='cpu')
    fast_inferencer.model = inferencer.model  # same weights

    # the lean path: int8 TorchScript + fast loading, lesion = one batch
    model, _ = inferencer.model, None
    deploy = copy.deepcopy(tool.ExportWrapper(model).eval())
    tool.fuse_qv_bias(deploy)
    size = tool.input_size_of(cfg)
    int8 = tool.trace(tool.quantize_int8(deploy), torch.rand(2, 3, *size))
    deploy_pipeline = Compose([
        TRANSFORMS.build(t) for t in fast_pipeline if t['type'] != 'PackInputs'
    ])
    lesion_images = [
        next(
            iter(
                LesionInferencer.find_lesions(
                    d, inferencer.classes).values()))['images']
        for d in lesion_dirs
    ]
    n_img = sum(len(x) for x in lesion_images)

    def run_deploy():
        out = []
        with torch.inference_mode():
            for images in lesion_images:
                batch = np.stack(
                    [deploy_pipeline(dict(img_path=p))['img'] for p in images])
                x = torch.from_numpy(batch).permute(0, 3, 1, 2).float()
                out.append(int(int8(x).mean(0).argmax()))
        return out

    preds = {}

    def run_inferencer(inf, key):

        def fn():
            res = inf(lesion_dirs, batch_size=16, show_progress=False)
            preds[key] = [r['pred_label'] for r in res]

        return fn

    def run_deploy_store():
        preds['deploy_int8'] = run_deploy()

    cases = dict(
        inferencer=run_inferencer(inferencer, 'inferencer'),
        inferencer_fast_load=run_inferencer(fast_inferencer,
                                            'inferencer_fast_load'),
        deploy_int8=run_deploy_store)
    # warm-up: one lesion per variant (a full pass of ViT-B costs ~10 s here)
    with torch.inference_mode():
        inferencer(lesion_dirs[:1], show_progress=False)
        fast_inferencer(lesion_dirs[:1], show_progress=False)
        int8(torch.rand(1, 3, *size) * 255)
    times = interleaved(cases, args.rounds, warmup=0)
    rows, ratios = [], []
    ips = {k: n_img / median(v) for k, v in times.items()}
    for k, v in ips.items():
        rows.append(
            dict(
                case=k,
                metric='img/s (files -> lesion diagnoses)',
                value=v,
                unit='img/s'))
        if k != 'inferencer':
            ratios.append(
                dict(
                    name=f'{k} / inferencer img/s',
                    value=v / ips['inferencer']))
            agree = np.mean(
                np.array(preds[k]) == np.array(preds['inferencer']))
            rows.append(
                dict(
                    case=k,
                    metric='lesion agreement with '
                    'inferencer',
                    value=float(agree),
                    unit=''))
    print(f'lesion inference end to end: {len(lesion_dirs)} lesions, '
          f'{n_img} images, {torch.get_num_threads()} threads, '
          f'{args.rounds} rounds (median); weights: '
          f"{args.checkpoint or 'random'}")
    print_table(rows, ratios)
    path = save_result(
        'lesion_inference',
        rows,
        ratios,
        config=dict(
            config=osp.relpath(args.config, REPO_ROOT),
            checkpoint=args.checkpoint,
            lesions=len(lesion_dirs),
            images=n_img,
            rounds=args.rounds,
            threads=torch.get_num_threads(),
            fast_pipeline=fast_pipeline))
    print(f'wrote {path}')


if __name__ == '__main__':
    main()

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""What fast loading changes in a trained model's decisions.

The shipped test pipelines decode JPEGs at reduced size (``LoadResizedImage``,
libjpeg's 1/2-1/8 DCT scaling) before resizing. This script runs one trained
model on the config's test split twice, with the config's test pipeline
(fast) and with its loading step replaced by a full-resolution
``LoadImageFromFile`` (the rest of the pipeline unchanged), and reports:
the pixel difference of the model inputs, the largest image- and
lesion-level probability difference, lesion-decision agreement, the metrics
of both runs (``LesionMetric``) and the loading time per image.

Not a ``bench_*`` script (``run_all.py`` skips it): it needs a trained
checkpoint.

    python benchmarks/fast_loading_effect.py CONFIG CHECKPOINT \
        [--pipeline-from OTHER_CONFIG] [--data-root DIR] [--name NAME]

``--pipeline-from`` takes the test pipeline of another config (e.g. the
224 px pipeline of the full-size configs) for the same model.
``--fit-probe N`` replaces the checkpoint by a probe: the config's model
trained from scratch for N epochs on the full-decode inputs of the very
images it is then tested on (no augmentation), so that its decisions vary
and sit where full decoding puts them: the worst case for fast loading. A
near-constant model (such as the 20-image demo) hardly moves its decisions
whatever the input. Pass ``none`` as CHECKPOINT with it. Writes
``benchmarks/results/<name>.json``.
"""
import argparse
import copy
import os.path as osp
import sys
import time

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _common import full_decode_pipeline  # noqa: E402
from _common import DEFAULT_DEMO_ROOT, save_result  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dataset import Compose, default_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402
from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS  # noqa: E402

import ecdl_mm  # noqa: E402,F401
from ecdl_mm.evaluation import LesionMetric  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--pipeline-from',
        help='config whose test pipeline '
        'is used (default: CONFIG)')
    parser.add_argument('--data-root', default=DEFAULT_DEMO_ROOT)
    parser.add_argument('--name', default='fast_loading_effect')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--fit-probe', type=int, default=0, metavar='EPOCHS')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='merged into CONFIG and --pipeline-from, e.g. '
        'test_dataloader.dataset.pipeline.0.scale=128')
    return parser.parse_args()


def load_all(dataset, pipeline):
    transform = Compose([TRANSFORMS.build(t) for t in pipeline])
    inputs, samples, load_s = [], [], 0.
    for i in range(len(dataset)):
        info = copy.deepcopy(dataset.get_data_info(i))
        t0 = time.perf_counter()
        out = transform(info)
        load_s += time.perf_counter() - t0
        inputs.append(out['inputs'])
        samples.append(out['data_samples'])
    return inputs, samples, load_s / len(dataset)


def fit_probe(model, inputs, samples, epochs, batch_size):
    """Plain CE training on fixed inputs (the full-decode ones)."""
    torch.manual_seed(0)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.)
    for _ in range(epochs):
        order = torch.randperm(len(inputs)).tolist()
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            batch = default_collate(
                [dict(inputs=inputs[j], data_samples=samples[j]) for j in idx])
            data = model.data_preprocessor(batch, True)
            loss = sum(model(**data, mode='loss').values())
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    print(f'probe: last training loss {loss.item():.4f}')
    return loss.item()


def run(model, dataset, pipeline, batch_size):
    inputs, samples, load_s = load_all(dataset, pipeline)
    probs = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch_size):
            batch = default_collate([
                dict(inputs=x, data_samples=s)
                for x, s in zip(inputs[i:i + batch_size], samples[i:i +
                                                                  batch_size])
            ])
            data = model.data_preprocessor(batch, False)
            preds = model(**data, mode='predict')
            probs += [p.pred_score.float().numpy() for p in preds]
    return (torch.stack(inputs).float().numpy(), np.stack(probs), samples,
            load_s)


def metrics_of(probs, samples, classes):
    metric = LesionMetric(bootstrap_rounds=0, classes=classes)
    metric.process(None, [
        dict(
            pred_score=torch.from_numpy(p),
            gt_label=s.gt_label,
            lesion_id=s.lesion_id,
            img_path=s.img_path) for p, s in zip(probs, samples)
    ])
    out = metric.compute_metrics(metric.results)
    keep = ('accuracy', 'auc_macro', 'sensitivity_macro')
    return {k: float(v) for k, v in out.items() if k.split('/', 1)[1] in keep}


def main():
    args = parse_args()
    torch.set_num_threads(1)
    cfg = Config.fromfile(args.config)
    init_default_scope('mmpretrain')
    pipe_cfg = Config.fromfile(args.pipeline_from) \
        if args.pipeline_from else cfg
    for c in {id(cfg): cfg, id(pipe_cfg): pipe_cfg}.values():
        c.merge_from_dict(args.cfg_options)
    fast = list(pipe_cfg.test_dataloader.dataset.pipeline)
    if fast[0]['type'] != 'LoadResizedImage':
        raise ValueError(f'the test pipeline starts with {fast[0]["type"]},'
                         ' not LoadResizedImage: nothing to compare')
    full = full_decode_pipeline(fast)

    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    ds_cfg.data_root = args.data_root
    ds_cfg.pipeline = []
    dataset = DATASETS.build(ds_cfg)
    classes = dataset.metainfo['classes']

    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.pop('init_cfg', None)
    if cfg.get('data_preprocessor'):  # as the Runner merges it
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if model_cfg.head.type == 'SupervisedClusteringHead':
        # inference is the linear head's; the probe trains it with CE only
        model_cfg.head = dict(
            type='LinearClsHead',
            num_classes=model_cfg.head.num_classes,
            in_channels=model_cfg.head.in_channels)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    if args.fit_probe:
        model.init_weights()
        inputs, samples, _ = load_all(dataset, full)
        probe_loss = fit_probe(model, inputs, samples, args.fit_probe,
                               args.batch_size)
    else:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()

    x_fast, p_fast, samples, t_fast = run(model, dataset, fast,
                                          args.batch_size)
    x_full, p_full, _, t_full = run(model, dataset, full, args.batch_size)

    lesion_ids = [s.lesion_id for s in samples]
    _, l_fast, d_fast, _ = LesionMetric.aggregate(p_fast, lesion_ids)
    _, l_full, d_full, _ = LesionMetric.aggregate(p_full, lesion_ids)
    mse = ((x_fast - x_full)**2).mean()
    m_fast = metrics_of(p_fast, samples, classes)
    m_full = metrics_of(p_full, samples, classes)
    result = dict(
        config=osp.basename(args.config),
        checkpoint=(f'probe fit for {args.fit_probe} epochs on the full-'
                    'decode inputs'
                    if args.fit_probe else osp.basename(args.checkpoint)),
        pipeline_from=osp.basename(args.pipeline_from or args.config),
        cfg_options=args.cfg_options,
        probe_last_loss=probe_loss if args.fit_probe else None,
        fast_loading_step=dict(fast[0]),
        decode_factor=TRANSFORMS.build(fast[0])(dict(
            img_path=dataset.get_data_info(0)['img_path']))['decode_factor'],
        input_shape=list(x_fast.shape[1:]),
        images=len(dataset),
        lesions=int(len(d_fast)),
        pixel_mean_abs_diff=float(np.abs(x_fast - x_full).mean()),
        pixel_max_abs_diff=float(np.abs(x_fast - x_full).max()),
        pixel_psnr_db=float(10 * np.log10(255.**2 / mse)) if mse else None,
        image_max_prob_diff=float(np.abs(p_fast - p_full).max()),
        lesion_max_prob_diff=float(np.abs(l_fast - l_full).max()),
        image_decisions_agree=int(
            (p_fast.argmax(1) == p_full.argmax(1)).sum()),
        lesion_decisions_agree=int((d_fast == d_full).sum()),
        lesion_decisions_fast=np.bincount(d_fast, minlength=3).tolist(),
        metrics_fast=m_fast,
        metrics_full=m_full,
        metric_max_abs_delta=max(abs(m_fast[k] - m_full[k]) for k in m_fast),
        load_ms_per_image_fast=1e3 * t_fast,
        load_ms_per_image_full=1e3 * t_full)
    for key, value in result.items():
        print(f'{key}: {value}')
    print('wrote', save_result(args.name, rows=[], extra=result))


if __name__ == '__main__':
    main()

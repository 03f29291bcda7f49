# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Does the centre term help learning? Cross-entropy alone vs the release's
centre term (``form='ecdl'``) vs the prototype cross-entropy
(``form='proto'``), trained with the real components on real images laid out
as lesions (run by hand, CPU).

Data. scikit-learn's ``load_digits`` (UCI optdigits: 1,797 real scanned
handwritten digits, 8x8, 17 grey levels; it ships inside the scikit-learn
wheel, nothing is downloaded). Three visually confusable digits play the
three EC-DL classes: 3 -> adenomas, 5 -> invasive_cancer,
8 -> non-neoplastic. Lesions: within each class, images are dealt into
lesions of ``--per-lesion`` (3) similar images (a random unassigned image and
its nearest unassigned neighbours in pixel space), so the images of a lesion
are correlated like several views of one lesion; lesion counts follow the
13 / 3 / 4 class ratio of EC-DL's ``demo_train`` (61 / 14 / 19 lesions, 282
images). The images (RGB PNG, 8x8) are written once to a temporary folder in
the ``<class>/<lesion>/Images/*.png`` layout of ``ECNBIDataset``.

Splits. Lesion-grouped, class-stratified 3-fold cross-validation
(``ecdl_mm.datasets.fold_split``, as ``make_splits.py`` splits, i.e.
scikit-learn's ``StratifiedGroupKFold``; ``check_split_leakage`` on every
fold): each lesion is tested exactly once per seed, so every run is
evaluated on all 94 lesions (a single 60/20/20 split would test 19 lesions,
3 of them invasive). Fixed schedule, no model selection, hence no
validation split. The seed sets the folds and the training randomness; the
three arms of one seed share folds, so they are compared paired.

Training (mmengine ``Runner``, as ``tools/train.py``): ``ImageClassifier``
with an ``ECViT`` (64 wide, 4 layers, 4 heads, 32 px input, 8 px patches,
drop path 0.1, from scratch) and ``SupervisedClusteringHead``
(label-smoothed CE 0.1 + centre term, tau 0.07, lambda 1), centres from
``ClassCenterHook`` (epoch 0 plain CE); AdamW lr 1e-3, wd 0.05, 2 warm-up
epochs then cosine, ``--epochs`` (40), batch 32 (240 iterations); train
transform RandomResizedCrop(32, area 0.85-1), test transform Resize(32).
The arms:

- ``ce``: the same head with ``center_loss.loss_weight = 0`` (what the
  published EC-DL model effectively trained with: its centre term was
  computed on Python floats, so no gradient reached the network);
- ``ecdl``: ``ClusterCenterLoss(form='ecdl')``, the release term made
  differentiable;
- ``proto``: ``ClusterCenterLoss(form='proto')``.

Evaluation: the test folds' image probabilities of one run are pooled and
scored by ``LesionMetric`` (lesion = mean of its image probabilities, 1000
lesion-bootstrap rounds for the 95% CIs): lesion accuracy and lesion macro
AUC (image level too). Over seeds: mean and the min-max spread. The pull:
on the test images, the mean cosine of each feature to its own class centre
(the centres of the last training epoch), the mean margin
``cos(f, c_y) - max_{k != y} cos(f, c_k)``, nearest-centre accuracy, and both
centre-term values ('proto' and 'ecdl', whichever arm trained); and the
logged training centre term of the last epoch.

Decision rule for the default ``form`` of ``ClusterCenterLoss``, written
with the first version of this script, before any run. The recipe (epochs,
batch, patch size, crop, 3 folds) was then set from pilot runs on one fold
(chosen for run time and for cross-entropy to learn at all), before the
full run:

1. Primary metrics: lesion accuracy and lesion macro AUC, mean over seeds.
2. 'proto' becomes the default if on both primary metrics its mean is no
   more than 0.02 below the better of 'ecdl' and 'ce' (non-inferiority
   margin 0.02), and it pulls harder than 'ecdl' (higher mean test
   cos(f, c_y)).
3. Otherwise, if 'ecdl' meets the same margin against 'proto' and 'ce', the
   default is 'ecdl' (the release's term; fidelity).
4. Otherwise the evidence is mixed: the default is 'proto' for its
   gradient (the only form that pulls, tests/test_models/test_losses), and
   the README says that neither centre term kept up with cross-entropy
   alone here.

    python benchmarks/bench_clustering_learning.py [--seeds 0 1 2]
        [--epochs 40] [--folds 3] [--forms ce ecdl proto] [--jobs 1]
        [--loss-weight 1.0] [--temperature 0.07]

``--jobs 2`` trains two (arm, seed) pairs at a time, one thread each.

Writes benchmarks/results/bench_clustering_learning.json (with a
``_lambda<w>_tau<t>`` suffix for other centre-term settings) and prints a
Markdown table.
"""
import argparse
import json
import logging
import multiprocessing
import os
import os.path as osp
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import _common  # noqa: F401  (puts the repo on sys.path)
import numpy as np
import torch
import torch.nn.functional as F
from _common import RESULTS_DIR, env_info
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from PIL import Image
from sklearn.datasets import load_digits

import ecdl_mm  # noqa: F401
from ecdl_mm.datasets import check_split_leakage, fold_split, write_splits
from ecdl_mm.evaluation import LesionMetric
from ecdl_mm.models.losses.cluster_center_loss import cluster_center_loss

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')
DIGITS = (3, 5, 8)
LESIONS = (61, 14, 19)  # 13 / 3 / 4 of demo_train, scaled to 183 threes
MARGIN = 0.02
BATCH = 32
WARMUP = 2  # epochs


def write_lesions(root, per_lesion, seed=0):
    """Write the digits as lesions under ``root``; return the lesion table
    (one row per lesion) as ``make_splits`` expects it."""
    import pandas as pd
    digits = load_digits()
    rng = np.random.default_rng(seed)
    rows = []
    for cls, (digit, n_lesions) in enumerate(zip(DIGITS, LESIONS)):
        idx = np.flatnonzero(digits.target == digit)
        idx = rng.permutation(idx)[:n_lesions * per_lesion]
        if len(idx) < n_lesions * per_lesion:
            raise ValueError(f'digit {digit} has {len(idx)} images, fewer '
                             f'than {n_lesions} x {per_lesion}')
        pixels = digits.data[idx]
        free = np.ones(len(idx), bool)
        for lesion in range(n_lesions):
            first = int(np.flatnonzero(free)[0])
            dist = ((pixels - pixels[first])**2).sum(1)
            dist[~free] = np.inf
            members = np.argsort(dist, kind='stable')[:per_lesion]
            free[members] = False
            lesion_id = f'{cls}{lesion:03d}'
            folder = osp.join(root, CLASSES[cls], lesion_id, 'Images')
            os.makedirs(folder, exist_ok=True)
            for j, m in enumerate(members):
                img = (digits.images[idx[m]] * (255 / 16)).round()
                img = np.repeat(img.astype(np.uint8)[..., None], 3, 2)
                Image.fromarray(img).save(
                    osp.join(folder, f'{int(idx[m]):04d}_{j}.png'))
            rows.append(
                dict(
                    class_index=cls,
                    class_english=CLASSES[cls],
                    lesion_index=lesion_id,
                    patient_id=None))
    return pd.DataFrame(
        rows,
        columns=['class_index', 'class_english', 'lesion_index', 'patient_id'])


META_KEYS = ('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'lesion_id',
             'patient_id')


def runner_cfg(args, form, seed, data_root, train_sheet, test_sheet, work_dir):
    center_loss = dict(
        type='ClusterCenterLoss',
        temperature=args.temperature,
        loss_weight=0.0 if form == 'ce' else args.loss_weight)
    if form != 'ce':
        center_loss['form'] = form
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(
            type='RandomResizedCrop',
            scale=32,
            crop_ratio_range=(0.85, 1.0),
            backend='pillow',
            interpolation='bilinear'),
        dict(type='PackInputs', meta_keys=META_KEYS),
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(
            type='Resize',
            scale=(32, 32),
            backend='pillow',
            interpolation='bilinear'),
        dict(type='PackInputs', meta_keys=META_KEYS),
    ]

    def loader(sheet, pipeline, train):
        return dict(
            batch_size=BATCH,
            num_workers=0,
            dataset=dict(
                type='ECNBIDataset',
                data_root=data_root,
                ann_file=sheet,
                test_mode=not train,
                pipeline=pipeline),
            sampler=dict(type='DefaultSampler', shuffle=train))

    warmup = WARMUP
    return Config(
        dict(
            default_scope='mmpretrain',
            work_dir=work_dir,
            experiment_name=f'{form}_seed{seed}',
            log_level='WARNING',
            model=dict(
                type='ImageClassifier',
                data_preprocessor=dict(
                    num_classes=3, mean=[127.5] * 3, std=[127.5] * 3),
                backbone=dict(
                    type='ECViT',
                    arch=dict(
                        embed_dims=64,
                        num_layers=4,
                        num_heads=4,
                        feedforward_channels=256),
                    img_size=32,
                    patch_size=8,
                    drop_path_rate=0.1,
                    out_type='avg_featmap'),
                head=dict(
                    type='SupervisedClusteringHead',
                    num_classes=3,
                    in_channels=64,
                    loss=dict(
                        type='LabelSmoothLoss',
                        label_smooth_val=0.1,
                        mode='original'),
                    center_loss=center_loss)),
            train_dataloader=loader(train_sheet, train_pipeline, True),
            test_dataloader=loader(test_sheet, test_pipeline, False),
            test_evaluator=dict(type='LesionMetric', bootstrap_rounds=0),
            train_cfg=dict(by_epoch=True, max_epochs=args.epochs),
            test_cfg=dict(),
            optim_wrapper=dict(
                optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
            param_scheduler=[
                dict(
                    type='LinearLR',
                    start_factor=1e-2,
                    by_epoch=True,
                    begin=0,
                    end=warmup,
                    convert_to_iter_based=True),
                dict(
                    type='CosineAnnealingLR',
                    T_max=args.epochs - warmup,
                    eta_min=1e-6,
                    by_epoch=True,
                    begin=warmup,
                    end=args.epochs,
                    convert_to_iter_based=True),
            ],
            custom_hooks=[dict(type='ClassCenterHook')],
            default_hooks=dict(
                timer=dict(type='IterTimerHook'),
                logger=dict(type='LoggerHook', interval=1000),
                param_scheduler=dict(type='ParamSchedulerHook'),
                checkpoint=None,
                sampler_seed=dict(type='DistSamplerSeedHook')),
            env_cfg=dict(dist_cfg=dict(backend='gloo')),
            randomness=dict(seed=seed, deterministic=False),
        ))


@torch.no_grad()
def test_outputs(runner, temperature):
    """Image probabilities, labels, lesion ids and the centre diagnostics of
    the test split, from the trained model."""
    model = runner.model
    model.eval()
    head = model.head
    centers, valid = head.centers.clone(), head.centers_valid.clone()
    if not bool(valid.all()):
        raise RuntimeError('a class centre is missing after training')
    out = dict(score=[], label=[], lesion=[], img_path=[], feat=[])
    for batch in runner.test_dataloader:
        data = model.data_preprocessor(batch, False)
        feats = model.extract_feat(data['inputs'], stage='pre_logits')
        out['feat'].append(feats)
        out['score'].append(head.fc(feats).softmax(1))
        for s in data['data_samples']:
            out['label'].append(int(s.gt_label))
            out['lesion'].append(s.lesion_id)
            out['img_path'].append(s.img_path)
    feats = torch.cat(out.pop('feat'))
    labels = torch.tensor(out['label'])
    cos = F.normalize(feats, dim=1) @ F.normalize(centers, dim=1).t()
    own = cos.gather(1, labels[:, None])[:, 0]
    other = cos.masked_fill(F.one_hot(labels, 3).bool(), -2).max(1).values
    diag = dict(
        n=len(labels),
        cos_own_sum=own.sum().item(),
        margin_sum=(own - other).sum().item(),
        nearest_centre_correct=(cos.argmax(1) == labels).sum().item())
    for form in ('proto', 'ecdl'):
        loss, _ = cluster_center_loss(
            feats, centers, labels, temperature=temperature, form=form)
        diag[f'{form}_term_sum'] = loss.sum().item()
    return np.concatenate([s.numpy() for s in out['score']]), out, diag


def run_arm(args, form, seed, data_root, folds):
    """Train and test one arm on every fold of one seed."""
    results, diag, train_term = [], {}, []
    for i in range(args.folds):
        with tempfile.TemporaryDirectory() as work_dir:
            cfg = runner_cfg(args, form, seed * 100 + i, data_root,
                             f'seed{seed}/fold{i}_train.csv',
                             f'seed{seed}/fold{i}_val.csv', work_dir)
            runner = Runner.from_cfg(cfg)
            runner.train()
            hub = runner.message_hub
            train_term.append(
                float(
                    hub.get_scalar('train/loss_center').mean(
                        window_size=folds[seed, i])))
            # The real test loop (LesionMetric); our own pass below must
            # score the same.
            fold_metrics = runner.test()
            s, out, d = test_outputs(runner, args.temperature)
            fold_results = [
                dict(
                    score=s[k],
                    gt_label=out['label'][k],
                    lesion_id=out['lesion'][k],
                    img_path=out['img_path'][k]) for k in range(len(s))
            ]
            check = LesionMetric(bootstrap_rounds=0)
            check.dataset_meta = dict(classes=CLASSES)
            check = check.compute_metrics(fold_results)
            for key in ('lesion/accuracy', 'lesion/auc_macro'):
                if abs(check[key] - fold_metrics[key]) > 1e-6:
                    raise RuntimeError(
                        f'fold {i}: {key} of our pass {check[key]} != '
                        f'{fold_metrics[key]} of runner.test()')
            results += fold_results
            for key, value in d.items():
                diag[key] = diag.get(key, 0) + value
    metric = LesionMetric(bootstrap_rounds=1000, seed=seed)
    metric.dataset_meta = dict(classes=CLASSES)
    m = metric.compute_metrics(results)
    keep = {}
    for level in ('image', 'lesion'):
        for name in ('accuracy', 'auc_macro'):
            key = f'{level}/{name}'
            keep[key] = float(m[key])
            keep[key + '_ci'] = [
                float(m[key + '_ci_lower']),
                float(m[key + '_ci_upper'])
            ]
    n = diag['n']
    keep.update(
        num_images=n,
        num_lesions=int(m['lesion/num_lesions']),
        test_cos_own=diag['cos_own_sum'] / n,
        test_margin=diag['margin_sum'] / n,
        test_nearest_centre_acc=diag['nearest_centre_correct'] / n,
        test_proto_term=diag['proto_term_sum'] / n,
        test_ecdl_term=diag['ecdl_term_sum'] / n,
        train_center_term_last_epoch=statistics.mean(train_term))
    return keep


def quiet_single_thread():
    """Worker set-up: one thread, mmengine's own logger at WARNING."""
    torch.set_num_threads(1)
    MMLogger.get_instance('mmengine').setLevel(logging.WARNING)


def timed_arm(*args):
    t = time.perf_counter()
    return run_arm(*args), time.perf_counter() - t


def summarise(runs, forms, seeds):
    keys = [
        'lesion/accuracy', 'lesion/auc_macro', 'image/accuracy',
        'image/auc_macro', 'test_cos_own', 'test_margin',
        'test_nearest_centre_acc', 'test_proto_term', 'test_ecdl_term',
        'train_center_term_last_epoch'
    ]
    out = {}
    for form in forms:
        per_seed = [runs[f'{form}/seed{s}'] for s in seeds]
        out[form] = {
            k:
            dict(
                mean=statistics.mean(r[k] for r in per_seed),
                min=min(r[k] for r in per_seed),
                max=max(r[k] for r in per_seed))
            for k in keys
        }
    return out


def decide(summary):
    """The decision rule of the module docstring."""

    def ok(form, others):
        return all(summary[form][k]['mean'] >= max(summary[o][k]['mean']
                                                   for o in others) - MARGIN
                   for k in ('lesion/accuracy', 'lesion/auc_macro'))

    if not all(f in summary for f in ('ce', 'ecdl', 'proto')):
        return None, 'needs the three arms ce, ecdl, proto'
    pulls = summary['proto']['test_cos_own']['mean'] > summary['ecdl'][
        'test_cos_own']['mean']
    if ok('proto', ('ecdl', 'ce')) and pulls:
        return 'proto', ('rule 2: proto within the 0.02 margin of the '
                         'better of ecdl and ce on lesion accuracy and '
                         'macro AUC, and pulls harder than ecdl')
    if ok('ecdl', ('proto', 'ce')):
        return 'ecdl', ('rule 3: proto failed rule 2, ecdl within the '
                        'margin of proto and ce')
    return 'proto', ('rule 4: mixed evidence, neither centre term within '
                     'the margin; proto for its gradient')


def table(runs, summary, forms, seeds):

    def ci(r, key):
        lo, hi = r[key + '_ci']
        return f'{r[key]:.3f} ({lo:.2f}-{hi:.2f})'

    lines = [
        '| arm | seed | lesion accuracy (95% CI) | lesion macro AUC (95% CI)'
        ' | image accuracy | image macro AUC | test cos(f, c_y) | '
        'test margin | nearest-centre acc | proto term | ecdl term |',
        '|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for form in forms:
        for s in seeds:
            r = runs[f'{form}/seed{s}']
            lines.append(
                f'| {form} | {s} | {ci(r, "lesion/accuracy")} | '
                f'{ci(r, "lesion/auc_macro")} | {r["image/accuracy"]:.3f} | '
                f'{r["image/auc_macro"]:.3f} | {r["test_cos_own"]:.3f} | '
                f'{r["test_margin"]:.3f} | '
                f'{r["test_nearest_centre_acc"]:.3f} | '
                f'{r["test_proto_term"]:.3f} | '
                f'{r["test_ecdl_term"]:.2g} |')
    for form in forms:
        m = summary[form]

        def ms(key, fmt='.3f'):
            v = m[key]
            return (f'{v["mean"]:{fmt}} [{v["min"]:{fmt}}, '
                    f'{v["max"]:{fmt}}]')

        lines.append(
            f'| **{form}** | mean [min, max] | {ms("lesion/accuracy")} | '
            f'{ms("lesion/auc_macro")} | {ms("image/accuracy")} | '
            f'{ms("image/auc_macro")} | {ms("test_cos_own")} | '
            f'{ms("test_margin")} | {ms("test_nearest_centre_acc")} | '
            f'{ms("test_proto_term")} | {ms("test_ecdl_term", ".2g")} |')
    return '\n'.join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, default=40)
    parser.add_argument('--folds', type=int, default=3)
    parser.add_argument('--per-lesion', type=int, default=3)
    parser.add_argument(
        '--forms',
        nargs='+',
        default=['ce', 'ecdl', 'proto'],
        choices=['ce', 'ecdl', 'proto'])
    parser.add_argument('--jobs', type=int, default=1)
    parser.add_argument(
        '--loss-weight',
        type=float,
        default=1.0,
        help='lambda of the centre term in the ecdl / proto arms')
    parser.add_argument('--temperature', type=float, default=0.07)
    args = parser.parse_args()
    if args.epochs <= WARMUP:
        parser.error(f'--epochs {args.epochs} must exceed the {WARMUP} '
                     'warm-up epochs')
    return args


def main():
    args = parse_args()
    t0 = time.perf_counter()
    runs, timings = {}, {}
    with tempfile.TemporaryDirectory() as data_root:
        lesions = write_lesions(data_root, args.per_lesion)
        folds = {}
        for seed in args.seeds:
            splits = fold_split(lesions, args.folds, seed)
            for i in range(args.folds):
                check_split_leakage(
                    {k: splits[f'fold{i}_{k}']
                     for k in ('train', 'val')})
                n_train = sum(
                    len(
                        os.listdir(
                            osp.join(data_root, CLASSES[c], lid, 'Images')))
                    for c, lid in zip(splits[f'fold{i}_train'].class_index,
                                      splits[f'fold{i}_train'].lesion_index))
                folds[seed, i] = -(-n_train // BATCH)  # iterations/epoch
            write_splits(splits, osp.join(data_root, f'seed{seed}'))
        jobs = [(form, seed) for seed in args.seeds for form in args.forms]
        with ProcessPoolExecutor(
                max_workers=args.jobs,
                mp_context=multiprocessing.get_context('spawn'),
                initializer=quiet_single_thread) as pool:
            futures = {
                pool.submit(timed_arm, args, form, seed, data_root, folds):
                (form, seed)
                for form, seed in jobs
            }
            for future in as_completed(futures):
                form, seed = futures[future]
                key = f'{form}/seed{seed}'
                runs[key], timings[key] = future.result()
                r = runs[key]
                print(
                    f'{form} seed {seed}: lesion acc '
                    f'{r["lesion/accuracy"]:.3f} AUC '
                    f'{r["lesion/auc_macro"]:.3f} cos_own '
                    f'{r["test_cos_own"]:.3f} ({timings[key]:.0f} s)',
                    flush=True)
    summary = summarise(runs, args.forms, args.seeds)
    default, reason = decide(summary)
    md = table(runs, summary, args.forms, args.seeds)
    total = time.perf_counter() - t0
    print(md)
    print(f'\ndefault form by the rule: {default} ({reason})')
    print(f'total {total:.0f} s')
    os.makedirs(RESULTS_DIR, exist_ok=True)
    name = 'bench_clustering_learning'
    if (args.loss_weight, args.temperature) != (1.0, 0.07):
        name += f'_lambda{args.loss_weight:g}_tau{args.temperature:g}'
    path = osp.join(RESULTS_DIR, f'{name}.json')
    with open(path, 'w') as f:
        json.dump(
            dict(
                benchmark=name,
                env=env_info(),
                config=dict(
                    vars(args),
                    digits=DIGITS,
                    classes=CLASSES,
                    lesions_per_class=LESIONS,
                    margin=MARGIN),
                runs=runs,
                summary=summary,
                decision=dict(default=default, reason=reason),
                # the common layout's rows, for run_all.py's table
                rows=[
                    dict(
                        case=form,
                        metric=f'{key} (mean of seeds)',
                        value=summary[form][key]['mean'],
                        unit='') for form in args.forms
                    for key in ('lesion/accuracy', 'lesion/auc_macro',
                                'test_cos_own', 'test_margin')
                ],
                seconds=dict(total=total, per_arm=timings),
                table_md=md),
            f,
            indent=1)
    print(f'wrote {path}')


if __name__ == '__main__':
    main()

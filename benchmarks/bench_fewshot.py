# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A new centre with few labels: which adaptation wins at which k, and how
much pre-training on the source centre helps (run by hand, CPU).

NOT EC-NBI. Real images that install offline: scikit-learn's
``load_digits`` (UCI optdigits, 1,797 scanned handwritten digits, 8x8, in
the scikit-learn wheel; nothing is downloaded), as in
``bench_clustering_learning.py``, whose lesion construction is reused.

Centres. Three confusable digits play the three EC-DL classes (3 ->
adenomas, 5 -> invasive_cancer, 8 -> non-neoplastic). Their images are
split in two disjoint halves (seeded): the *source centre* sees them as
acquired in training (grey, upsampled to 32x32); the *new centre* acquires
differently: the digit shrunk to 70 % (scale), Gaussian blur sigma 1.2 px
(focus) and a colour cast with lower contrast (R x 1.0, G x 0.55, B x 0.75
over a grey floor of 0.15; camera and light). Within each class, images are
dealt into lesions of 3 similar images (``write_lesions`` of
bench_clustering_learning: a random image and its nearest neighbours), so
the images of a lesion are correlated views; a lesion's score is the mean of
its image probabilities. The new centre has 30 / 30 / 30 lesions.

Initialisations (the pre-training chain, one ECViT: 64 wide, 4 layers, 4
heads, 8 px patches, 32 px input):

- ``scratch``: random init;
- ``generic``: supervised on the 7 *other* digits (0, 1, 2, 4, 6, 7, 9) at
  the source acquisition, 1,257 images: the stand-in for ImageNet weights,
  another task on other images;
- ``source``: ``generic``, then fine-tuned on the source centre's own
  3-class task (its labelled lesions): the EC-DL model of the source
  hospital.

Adaptation at the new centre, with k in {1, 2, 4, 8, 16} labelled lesions
per class (``ecdl_mm.datasets.sample_k_shot``: seeded, whole lesions),
tested on every other lesion of the new centre:

- ``linear``: linear probe, ECViT frozen (``frozen_stages`` = all layers);
- ``lora``: mmpretrain's ``LoRAModel`` (rank 4, alpha 4) on every block's
  attention projection and MLP;
- ``vpt``: ``PromptedECViT``, 4 deep prompts per layer, ECViT frozen;
- ``full``: full fine-tuning;
- ``none`` (k = 0, ``source`` only): the source model applied as it is.

The head is new for every run (zeros, 3 classes), except for ``none``. Each
run: AdamW (lr 1e-2 for linear / lora / vpt, 1e-3 for full; wd 1e-4),
``--steps`` (80) steps, batch min(32, support images), the support images
random-shifted by up to 2 px. Seeds change the k-shot draw and the training
randomness (the split of the digits into centres and the pre-training are
fixed, seed 0). Over ``--seeds``: mean and a 95 % t-interval over seeds of
lesion accuracy and lesion macro AUC (one-vs-rest, scikit-learn).

    python benchmarks/bench_fewshot.py [--seeds 0 1 2] [--steps 80]

Writes benchmarks/results/bench_fewshot.json and prints Markdown tables.
"""
import argparse
import json
import os
import os.path as osp
import tempfile
import time

import _common  # noqa: F401  (puts the repo on sys.path)
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from _common import RESULTS_DIR, env_info
from mmengine.logging import MMLogger
from mmpretrain.registry import MODELS
from scipy import stats
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

import ecdl_mm  # noqa: F401
from ecdl_mm.datasets import sample_k_shot

DIGITS = (3, 5, 8)
OTHER_DIGITS = (0, 1, 2, 4, 6, 7, 9)
PER_LESION = 3
NEW_LESIONS = 30  # per class
SHOTS = (1, 2, 4, 8, 16)
METHODS = ('linear', 'lora', 'vpt', 'full')
INITS = ('scratch', 'generic', 'source')
ARCH = dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128)
VIT = dict(arch=ARCH, img_size=32, patch_size=8, drop_path_rate=0.)


def to_source(images):
    """The source acquisition: grey 8x8 (0-16) upsampled to 3x32x32."""
    x = torch.as_tensor(images, dtype=torch.float32)[:, None] / 16.
    x = F.interpolate(x, size=32, mode='bilinear', align_corners=False)
    return x.repeat(1, 3, 1, 1)


def to_new_centre(images):
    """The new centre's acquisition: smaller, blurred, colour-cast."""
    x = torch.as_tensor(images, dtype=torch.float32)[:, None] / 16.
    x = F.interpolate(x, size=22, mode='bilinear', align_corners=False)
    x = F.pad(x, (5, 5, 5, 5))
    r = torch.arange(-3, 4, dtype=torch.float32)
    g = torch.exp(-r**2 / (2 * 1.2**2))
    g = g / g.sum()
    x = F.conv2d(x, g.view(1, 1, 1, -1), padding=(0, 3))
    x = F.conv2d(x, g.view(1, 1, -1, 1), padding=(3, 0))
    cast = torch.tensor([1.0, 0.55, 0.75]).view(1, 3, 1, 1)
    return 0.15 + 0.85 * x * cast


def make_lesions(pixels, n_lesions, rng):
    """Deal images into lesions of PER_LESION similar images (as
    bench_clustering_learning.write_lesions); a list of index arrays."""
    free = np.ones(len(pixels), bool)
    out = []
    for _ in range(n_lesions):
        first = int(rng.choice(np.flatnonzero(free)))
        dist = ((pixels - pixels[first])**2).sum(1)
        dist[~free] = np.inf
        members = np.argsort(dist, kind='stable')[:PER_LESION]
        free[members] = False
        out.append(members)
    return out


def build_data(seed=0):
    digits = load_digits()
    rng = np.random.default_rng(seed)
    data = dict()
    idx = np.flatnonzero(np.isin(digits.target, OTHER_DIGITS))
    data['generic'] = (to_source(digits.images[idx]),
                       torch.as_tensor(
                           np.searchsorted(OTHER_DIGITS, digits.target[idx])))
    src_x, src_y, lesions, new_x, new_y = [], [], {}, [], []
    for cls, digit in enumerate(DIGITS):
        idx = rng.permutation(np.flatnonzero(digits.target == digit))
        n_new = NEW_LESIONS * PER_LESION
        new_idx, src_idx = idx[:n_new], idx[n_new:]
        src_x.append(to_source(digits.images[src_idx]))
        src_y += [cls] * len(src_idx)
        offset = sum(len(x) for x in new_x)
        for j, members in enumerate(
                make_lesions(digits.data[new_idx], NEW_LESIONS, rng)):
            lesions[f'{cls}{j:03d}'] = (cls, offset + members)
        new_x.append(to_new_centre(digits.images[new_idx]))
        new_y += [cls] * n_new
    data['source'] = (torch.cat(src_x), torch.as_tensor(src_y))
    data['new'] = (torch.cat(new_x), torch.as_tensor(new_y), lesions)
    mean = data['source'][0].mean((0, 2, 3), keepdim=True)
    std = data['source'][0].std((0, 2, 3), keepdim=True)
    data['norm'] = (mean, std)
    return data


class Classifier(nn.Module):

    def __init__(self, backbone, num_classes):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(ARCH['embed_dims'], num_classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        return self.head(self.backbone(x)[-1])


def shift(x, gen, max_px=2):
    """Random translation by up to max_px (zero-padded), per batch."""
    dx, dy = (
        int(v)
        for v in torch.randint(-max_px, max_px + 1, (2, ), generator=gen))
    x = torch.roll(x, (dy, dx), (2, 3))
    return x


def train(model, x, y, steps, lr, gen, batch=32, wd=1e-4):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    batch = min(batch, len(x))
    for _ in range(steps):
        i = torch.randperm(len(x), generator=gen)[:batch]
        loss = F.cross_entropy(model(shift(x[i], gen)), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model


@torch.no_grad()
def predict(model, x):
    model.eval()
    return torch.cat([
        model(x[i:i + 256]).softmax(1) for i in range(0, len(x), 256)
    ]).numpy()


def pretrain(data, work_dir, steps):
    """The generic and source backbones, saved as checkpoints that the
    adapted models load through init_cfg (ecdl_mm's safe loaders)."""
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    mean, std = data['norm']
    out = {}
    backbone = MODELS.build(dict(type='ECViT', **VIT))
    backbone.init_weights()
    torch.save(
        dict(state_dict=backbone.state_dict()),
        osp.join(work_dir, 'scratch.pth'))
    out['scratch'] = osp.join(work_dir, 'scratch.pth')
    x, y = data['generic']
    model = train(
        Classifier(backbone, len(OTHER_DIGITS)), (x - mean) / std,
        y,
        steps,
        1e-3,
        gen,
        batch=64,
        wd=0.05)
    torch.save(
        dict(state_dict=model.backbone.state_dict()),
        osp.join(work_dir, 'generic.pth'))
    out['generic'] = osp.join(work_dir, 'generic.pth')
    x, y = data['source']
    src = Classifier(model.backbone, len(DIGITS))
    src = train(
        src, (x - mean) / std, y, steps // 2, 1e-3, gen, batch=64, wd=0.05)
    torch.save(
        dict(state_dict=src.backbone.state_dict()),
        osp.join(work_dir, 'source.pth'))
    out['source'] = osp.join(work_dir, 'source.pth')
    return out, src


def adapted(method, checkpoint):
    init = dict(type='Pretrained', checkpoint=checkpoint)
    if method == 'linear':
        cfg = dict(
            type='ECViT',
            **VIT,
            frozen_stages=ARCH['num_layers'],
            init_cfg=init)
    elif method == 'full':
        cfg = dict(type='ECViT', **VIT, init_cfg=init)
    elif method == 'vpt':
        cfg = dict(type='PromptedECViT', **VIT, num_prompts=4, init_cfg=init)
    elif method == 'lora':
        return MODELS.build(
            dict(
                type='LoRAModel',
                module=dict(type='ECViT', **VIT, init_cfg=init),
                alpha=4,
                rank=4,
                targets=[
                    dict(type='attn.proj'),
                    dict(type='ffn.layers.0.0'),
                    dict(type='ffn.layers.1')
                ]))
    backbone = MODELS.build(cfg)
    backbone.init_weights()
    return backbone


def lesion_scores(probs, lesions, ids):
    y = np.array([lesions[i][0] for i in ids])
    p = np.stack([probs[lesions[i][1]].mean(0) for i in ids])
    return dict(
        accuracy=float((p.argmax(1) == y).mean()),
        auc_macro=float(
            roc_auc_score(y, p, multi_class='ovr', average='macro')))


def run(data, checkpoints, method, init, shots, seed, steps):
    x, y, lesions = data['new']
    mean, std = data['norm']
    support, query = sample_k_shot(
        {
            k: (v[0], None)
            for k, v in lesions.items()
        }, shots, seed)
    idx = np.concatenate([lesions[i][1] for i in support])
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = Classifier(adapted(method, checkpoints[init]), len(DIGITS))
    lr = 1e-3 if method == 'full' else 1e-2
    xs = (x - mean) / std
    train(model, xs[idx], y[idx], steps, lr, gen)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    res = lesion_scores(predict(model, xs), lesions, query)
    res.update(
        method=method,
        init=init,
        shots=shots,
        seed=seed,
        query_lesions=len(query),
        trainable_params=int(trainable))
    return res


def summarise(runs, key):
    out = {}
    for r in runs:
        out.setdefault((r['init'], r['method'], r['shots']), []).append(r[key])
    rows = []
    for (init, method, shots), vals in sorted(out.items()):
        v = np.array(vals)
        half = (stats.t.ppf(0.975,
                            len(v) - 1) * v.std(ddof=1) /
                np.sqrt(len(v))) if len(v) > 1 else float('nan')
        rows.append(
            dict(
                init=init,
                method=method,
                shots=shots,
                metric=key,
                mean=float(v.mean()),
                ci_lower=float(v.mean() - half),
                ci_upper=float(v.mean() + half),
                n=len(v)))
    return rows


def tables(summary, shots):
    lines = []
    for metric in ('auc_macro', 'accuracy'):
        lines.append(f'\nLesion {metric} (mean over seeds, 95% t-CI)\n')
        lines.append('| init | method | ' + ' | '.join(f'k={k}'
                                                       for k in shots) + ' |')
        lines.append('|---|---|' + '---|' * len(shots))
        cells = {
            (r['init'], r['method'], r['shots']): r
            for r in summary if r['metric'] == metric
        }
        for init in INITS:
            for method in METHODS + ('none', ):
                if (init, method, shots[0]) not in cells and not (
                        method == 'none' and (init, method, 0) in cells):
                    continue
                row = []
                for k in shots:
                    r = cells.get((init, method, k)) or cells.get(
                        (init, method, 0))
                    row.append(f'{r["mean"]:.3f} [{r["ci_lower"]:.2f}, '
                               f'{r["ci_upper"]:.2f}]')
                lines.append(f'| {init} | {method} | ' + ' | '.join(row) +
                             ' |')
        lines.append('\nBest method per k and init: ' + '; '.join(
            f'k={k}: ' + ', '.join(
                f'{init} {max(METHODS, key=lambda m: cells[(init, m, k)]["mean"])}'  # noqa: E501
                for init in INITS) for k in shots))
    return '\n'.join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--shots', type=int, nargs='+', default=list(SHOTS))
    parser.add_argument('--steps', type=int, default=80)
    parser.add_argument('--pretrain-steps', type=int, default=600)
    parser.add_argument('--out', default='bench_fewshot')
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(1)
    MMLogger.get_instance('mmengine').setLevel('ERROR')
    t0 = time.time()
    data = build_data(0)
    runs = []
    with tempfile.TemporaryDirectory() as work_dir:
        checkpoints, src = pretrain(data, work_dir, args.pretrain_steps)
        x, y, lesions = data['new']
        mean, std = data['norm']
        probs = predict(src, (x - mean) / std)
        xs_src, ys_src = data['source']
        src_acc = (predict(src, (xs_src - mean) /
                           std).argmax(1) == ys_src.numpy()).mean()
        print(f'pre-training done in {time.time() - t0:.0f} s; source model'
              f' on source images: accuracy {src_acc:.3f}')
        for seed in args.seeds:
            # the source model as it is, on the same query sets
            for k in args.shots:
                _, query = sample_k_shot(
                    {
                        i: (v[0], None)
                        for i, v in lesions.items()
                    }, k, seed)
                r = lesion_scores(probs, lesions, query)
                r.update(
                    method='none',
                    init='source',
                    shots=k,
                    seed=seed,
                    query_lesions=len(query),
                    trainable_params=0)
                runs.append(r)
            for init in INITS:
                for method in METHODS:
                    for k in args.shots:
                        runs.append(
                            run(data, checkpoints, method, init, k, seed,
                                args.steps))
            print(f'seed {seed} done, {time.time() - t0:.0f} s')
    summary = summarise(runs, 'auc_macro') + summarise(runs, 'accuracy')
    text = tables(summary, args.shots)
    print(text)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = osp.join(RESULTS_DIR, f'{args.out}.json')
    with open(path, 'w') as f:
        json.dump(
            dict(
                benchmark='bench_fewshot',
                env=env_info(),
                config=vars(args),
                seconds=time.time() - t0,
                runs=runs,
                summary=summary,
                table=text),
            f,
            indent=2)
    print(f'wrote {path} ({time.time() - t0:.0f} s)')


if __name__ == '__main__':
    main()

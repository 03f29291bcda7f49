# Copyright (c) ecdl_mm contributors. All rights reserved.
# Plot the pooled features of a test set in 2-D (PCA or t-SNE), coloured by
# class, one panel per model state, e.g. before vs after clustering
# fine-tuning:
#
#   python tools/analysis/plot_features.py CONFIG \
#       --checkpoints init work_dirs/.../epoch_30.pth \
#       --titles "MAE encoder" "clustering fine-tuned" --out features.png
#
# `init` means the model as built from CONFIG with its init_cfg applied (for a
# fine-tuning config: the pre-trained encoder and a random head). The features
# are the head's input (`extract_feat(stage='pre_logits')`), i.e. the feature
# the clustering loss acts on. Also writes <out>.json with the silhouette score
# (cosine) of each panel, a number for "how well the classes cluster".
import argparse
import json
import os
import os.path as osp

import matplotlib.pyplot as plt
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import ecdl_mm  # noqa: F401  registers components, safe loading
from ecdl_mm.models import load_model
from ecdl_mm.utils import (add_cfg_options, check_checkpoint_paths,
                           merge_cfg_options)
from ecdl_mm.utils.cli import run_cli


def parse_args():
    parser = argparse.ArgumentParser(
        description='2-D plot of test features coloured by class')
    parser.add_argument('config', help='config (model + test_dataloader)')
    parser.add_argument(
        '--checkpoints',
        nargs='+',
        default=['init'],
        help='one panel per checkpoint; `init` = the config\'s init_cfg')
    parser.add_argument(
        '--titles', nargs='+', help='panel titles (default: file names)')
    parser.add_argument(
        '--method',
        choices=['pca', 'tsne'],
        default='pca',
        help='2-D projection (scikit-learn)')
    parser.add_argument(
        '--split',
        choices=['test', 'val', 'train'],
        default='test',
        help='which dataloader of the config to embed')
    parser.add_argument('--out', default='features.png', help='output PNG')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of random initialisations (`init`) and of t-SNE')
    add_cfg_options(parser)
    return parser.parse_args()


@torch.no_grad()
def extract(model, dataloader):
    """Pooled features ``(N, C)`` and labels ``(N, )`` of a dataloader."""
    model.eval()
    feats, labels = [], []
    for batch in dataloader:
        data = model.data_preprocessor(batch, False)
        feats.append(model.extract_feat(data['inputs'], stage='pre_logits'))
        labels += [int(s.gt_label) for s in data['data_samples']]
    return torch.cat(feats).float().numpy(), np.asarray(labels)


def project(feats, method, seed=0):
    """2-D embedding of L2-normalised features (the clustering loss uses
    cosine distances)."""
    x = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    if method == 'pca':
        from sklearn.decomposition import PCA
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    from sklearn.manifold import TSNE
    perplexity = float(min(30, max(2, (len(x) - 1) // 3)))
    return TSNE(
        n_components=2, perplexity=perplexity, init='pca',
        random_state=seed).fit_transform(x)


def silhouette(feats, labels):
    from sklearn.metrics import silhouette_score
    if len(np.unique(labels)) < 2 or len(labels) <= len(np.unique(labels)):
        return None
    return float(silhouette_score(feats, labels, metric='cosine'))


def main():
    plt.switch_backend('Agg')  # files only, no display needed
    args = parse_args()
    if args.titles and len(args.titles) != len(args.checkpoints):
        raise ValueError(f'--titles has {len(args.titles)} entries but '
                         f'--checkpoints has {len(args.checkpoints)}')
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    if 'init' in args.checkpoints:  # init_cfg files, before any work
        check_checkpoint_paths(cfg, init_cfg=True, load_from=False)

    dataloader = Runner.build_dataloader(cfg.get(f'{args.split}_dataloader'))
    classes = dataloader.dataset.metainfo.get('classes')
    titles = args.titles or [
        'init' if c == 'init' else osp.basename(c) for c in args.checkpoints
    ]

    panels = []
    for ckpt in args.checkpoints:
        torch.manual_seed(args.seed)
        model = load_model(cfg, None if ckpt == 'init' else ckpt)
        if ckpt == 'init':
            model.init_weights()
        feats, labels = extract(model, dataloader)
        panels.append((project(feats, args.method,
                               args.seed), labels, silhouette(feats, labels)))

    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.5 * len(panels), 4.2), squeeze=False)
    for ax, title, (xy, labels, sil) in zip(axes[0], titles, panels):
        for k in np.unique(labels):
            name = classes[k] if classes else f'class {k}'
            ax.scatter(*xy[labels == k].T, s=18, label=name, alpha=0.8)
        sil_text = 'n/a' if sil is None else f'{sil:.3f}'
        ax.set_title(f'{title}\nsilhouette (cosine) {sil_text}', fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(fontsize=8, loc='best')
    fig.suptitle(f'{args.split} features, {args.method.upper()}', fontsize=11)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=120)
    summary = {
        title: dict(checkpoint=ckpt, silhouette_cosine=sil, num=len(labels))
        for title, ckpt, (_, labels,
                          sil) in zip(titles, args.checkpoints, panels)
    }
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(summary, f, indent=2)
    print(f'wrote {args.out}')
    for title, info in summary.items():
        print(f'  {title}: silhouette (cosine) {info["silhouette_cosine"]}')


if __name__ == '__main__':
    run_cli(main)

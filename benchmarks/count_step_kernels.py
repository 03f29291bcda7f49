# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Full-size kernels of a training forward and backward under CUDA fp16
autocast, counted on a CPU: stage 3 against mmpretrain's ViT-B and timm's,
stage 2 (ECMAE) against mmpretrain's MAE (issue 25, item 5).

    python benchmarks/count_step_kernels.py [--stage 3] [--config CONFIG]

No GPU is needed and nothing is computed: the models run on fake CUDA
tensors (``torch._subclasses.FakeTensorMode``, shapes and dtypes only) with
CUDA autocast switched on by hand, so every op sees the dtypes it would see
on a GPU (autocast's float16 and float32 op lists, type promotion). For
each model it counts

- ``forward_full_size``: ops of the data preprocessor and the model's
  training forward (loss included) whose output has at least half the
  elements of the ``(B, N, C)`` token tensor (stage 2: of the encoder's
  visible tokens; views excluded), by op name;
- ``backward_casts``: the full-size dtype casts of the backward, read from
  the autograd graph: ``ToCopyBackward`` nodes and the casts the autograd
  engine inserts where a gradient's dtype differs from its input's (type
  promotion in an add or a multiplication).

An op that would make the host wait for the device (a value read back, an
output sized by values, e.g. boolean indexing) stops the count with torch's
``DataDependentOutputException`` / ``DynamicOutputShapeException`` naming
it: on a GPU that op drains the queue mid-step.

An emulation, to be read beside a GPU profile (``gpu_probe.py --only
step``): flash attention's kernels are not modelled (the fake CUDA device
takes SDPA's math path, alike for every model) and the optimizer step is
not counted. Uses torch internals (fake tensors, autograd input metadata);
written against torch 2.11-2.14.
"""
import argparse
import collections
import copy
import os.path as osp
import sys

from _common import REPO_ROOT, save_result

VIEWS = frozenset(
    ('view', '_unsafe_view', 't', 'transpose', 'permute', 'expand', 'unbind',
     'slice', 'select', 'detach', 'alias', 'split', 'as_strided', 'unsqueeze',
     'squeeze', 'reshape', 'lift_fresh'))


def _numel(shape):
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _counter_mode(big):
    """A dispatch mode counting the ops whose output has >= ``big``
    elements (views excluded), by op name."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class Count(TorchDispatchMode):

        def __init__(self):
            super().__init__()
            self.full = collections.Counter()
            self.total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = func.overloadpacket.__name__
            self.total += 1
            if name not in VIEWS and any(
                    isinstance(t, torch.Tensor) and t.numel() >= big
                    for t in tree_flatten(out)[0]):
                self.full[name] += 1
            return out

    return Count()


def backward_casts(loss, big):
    """Full-size casts the backward of ``loss`` runs, by kind."""
    casts = collections.Counter()
    seen, stack = set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        name = type(node).__name__
        meta = node._input_metadata
        if name.startswith('ToCopyBackward') and _numel(meta[0].shape) >= big:
            casts['ToCopyBackward'] += 1
        for nxt, k in node.next_functions:
            if nxt is None:
                continue
            stack.append(nxt)
            nmeta = nxt._input_metadata
            if name.startswith('ToCopyBackward') or not meta or \
                    k >= len(nmeta):
                continue
            if nmeta[k].dtype != meta[0].dtype and \
                    _numel(nmeta[k].shape) >= big:
                casts[f'engine cast after {name}'] += 1
    return casts


class _CudaAutocast:
    """``torch.autocast('cuda', float16)`` without the CUDA check (the
    context manager switches itself off where no GPU is present)."""

    def __enter__(self):
        import torch
        torch.set_autocast_dtype('cuda', torch.float16)
        torch.set_autocast_enabled('cuda', True)
        torch.autocast_increment_nesting()

    def __exit__(self, *exc):
        import torch
        torch.set_autocast_enabled('cuda', False)
        torch.autocast_decrement_nesting()
        torch.clear_autocast_cache()


def count_model(model, forward, batch, big):
    """Counts for one model: ``forward(model, batch)`` returns the loss."""
    count = _counter_mode(big)
    with _CudaAutocast(), count:
        loss = forward(model, batch)
    casts = backward_casts(loss, big)
    return dict(
        forward_ops=count.total,
        forward_full_size=sum(count.full.values()),
        forward_by_op=dict(sorted(count.full.items())),
        backward_casts=dict(sorted(casts.items())),
        backward_full_size_casts=sum(casts.values()))


def mm_forward(model, batch):
    """The mmpretrain classifier's training forward; labels reach the loss
    as the clustering head gives them (no ``.item()`` on fake tensors)."""
    import torch.nn.functional as F
    data = model.data_preprocessor(batch, True)
    head = model.head
    if hasattr(head, 'last_feats'):
        # a step after ClassCenterHook banked the previous one's features,
        # with the class centres of an earlier epoch in place
        head.last_feats = head.last_labels = None
        head._num_valid = head.centers.shape[0]
        losses = model(**data, mode='loss')
        return sum(v for k, v in losses.items() if 'loss' in k)
    import torch
    labels = [s.gt_label for s in data['data_samples']]
    target = torch.cat(labels).to(data['inputs'].device)
    logits = head(model.extract_feat(data['inputs']))
    return F.cross_entropy(logits, target, label_smoothing=0.1)


def stage3_models(path, bgt, MODELS):
    """Ours, mmpretrain's ViT-B (our data preprocessor) and timm's."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    models = dict(
        ours=MODELS.build(cfg.model),
        # built, not initialised: no pretrained weights are loaded
        mmpretrain_vit=MODELS.build(bgt.mmpretrain_vit_model(path)))
    try:
        import timm
        models['timm_vit'] = timm.create_model(
            'vit_base_patch16_224',
            pretrained=False,
            num_classes=3,
            global_pool='avg',
            class_token=False,
            fc_norm=True,
            drop_path_rate=0.1)
    except ImportError:
        print('timm is not installed: the timm ViT-B/16 case is skipped')
    return cfg.model.backbone, models


def stage2_models(path, bgt, MODELS):
    """Ours (ECMAE) and mmpretrain's MAE ViT-B, with our config's data
    preprocessor, as ``bench_gpu_train.py`` compares them."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    pre = cfg.get('data_preprocessor')
    ours = copy.deepcopy(cfg.model)
    mae = Config.fromfile(
        bgt.mm_config(
            'mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')).model
    for model in (ours, mae):
        if pre is not None:
            model['data_preprocessor'] = copy.deepcopy(pre)
    return cfg.model.backbone, dict(
        ours=MODELS.build(ours), mmpretrain_mae=MODELS.build(mae))


def selfsup_forward(model, batch):
    """An mmpretrain self-supervised model's training forward."""
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    return sum(v for k, v in losses.items() if 'loss' in k)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--stage', type=int, choices=(2, 3), default=3)
    parser.add_argument(
        '--config',
        help='the stage\'s config (default: the shipped ViT-B/16 one)')
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument(
        '--out',
        help='JSON record (default: '
        'benchmarks/results/count_step_kernels_stage<N>.json)')
    args = parser.parse_args()
    default = dict(
        stage2='ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py',
        stage3='ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py')
    args.config = args.config or osp.join(REPO_ROOT, 'configs', 'ecdl',
                                          default[f'stage{args.stage}'])

    import torch
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    from torch._subclasses.fake_tensor import FakeTensorMode

    import ecdl_mm  # noqa: F401
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    import bench_gpu_train as bgt
    init_default_scope('mmpretrain')

    build = stage3_models if args.stage == 3 else stage2_models
    backbone, models = build(args.config, bgt, MODELS)
    size = backbone.get('img_size', 224)
    tokens = (size // backbone.get('patch_size', 16))**2
    if args.stage == 2:
        tokens = tokens // 4  # the encoder sees a quarter of them
    width = models['ours'].backbone.embed_dims
    big = args.batch * tokens * width // 2
    rows = {}
    fake = FakeTensorMode(allow_non_fake_inputs=True)
    with fake:
        for name, model in models.items():
            model.train().to('cuda')
            if name == 'timm_vit':
                x = torch.randn(args.batch, 3, 224, 224, device='cuda')
                y = torch.randint(0, 3, (args.batch, ), device='cuda')
                rows[name] = count_model(
                    model, lambda m, b: torch.nn.functional.cross_entropy(
                        m(b[0]), b[1], label_smoothing=0.1), (x, y), big)
                continue
            batch = dict(
                inputs=torch.zeros(
                    args.batch, 3, size, size, dtype=torch.uint8),
                data_samples=[
                    DataSample().set_gt_label(i % 3) for i in range(args.batch)
                ])
            forward = mm_forward if args.stage == 3 else selfsup_forward
            rows[name] = count_model(model, forward, batch, big)
    path = save_result(
        f'count_step_kernels_stage{args.stage}',
        rows=[],
        config=dict(
            stage=args.stage,
            config=args.config,
            batch=args.batch,
            full_size=big),
        extra=dict(rows=rows),  # per model: counts by kind and by op
        path=args.out)
    names = list(rows)
    print(f'full-size kernels (>= {big} elements) of the stage-{args.stage} '
          'training '
          f'forward and backward, batch {args.batch}, emulated CUDA fp16 '
          'autocast\n')
    print('| | ' + ' | '.join(names) + ' |')
    print('|---' * (len(names) + 1) + '|')
    for key in ('forward_ops', 'forward_full_size',
                'backward_full_size_casts'):
        print(f'| {key} | ' + ' | '.join(str(rows[n][key])
                                         for n in names) + ' |')
    ops = sorted({op for n in names for op in rows[n]['forward_by_op']})
    for op in ops:
        values = [rows[n]['forward_by_op'].get(op, 0) for n in names]
        if len(set(values)) > 1:
            print(f'| forward {op} | ' + ' | '.join(map(str, values)) + ' |')
    print(f'\nwrote {path}')


if __name__ == '__main__':
    main()

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Training throughput of the EC-DL stage configs against mmpretrain's own
ViT-B / MAE models and timm's ViT-B/16, on the same data and settings.

For each case the script builds the stage config with mmengine's ``Runner``
(on CUDA with AMP: ``AmpOptimWrapper``, fp16, dynamic loss scale; on CPU in
fp32), with the dataloader defaults of ``tools/train.py`` (``default_collate``,
pinned memory on CUDA), points it at a synthetic EC-NBI-like cohort
(1160x1009 JPEGs with the octagonal black-cornered field, laid out as
``<class>/<lesion>/Images``), and measures, one case after the other:

- ``e2e``: ``runner.train()`` for ``--iters`` iterations, images/s over the
  iterations after the first 10% (data loading with ``--workers`` workers,
  the config's own pipeline included);
- ``step``: ``model.train_step`` repeated on one pre-loaded batch (forward,
  backward, optimizer step; the model's own cost), followed as in training
  by the ``after_train_iter`` of the config's custom hooks
  (``ClassCenterHook`` banks the clustering head's features). Every case is
  built first; the steps are then timed in ``--rounds`` interleaved rounds
  (``--steps`` in all per case, the median round counts), so that a GPU
  whose speed drifts during the run shifts every case alike;
- peak GPU memory of the step above what stays allocated (the models and
  optimizer states of all cases stay resident during the timing).

Nothing is downloaded: the ``Pretrained`` init of every backbone is dropped
(random weights). The mmpretrain cases keep our config (data, pipeline,
optimizer, batch) and swap only ``model``: the MAE ViT-B/16 of
``mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py`` against
our stage-2 ECMAE, and the ViT-B/16 fine-tuning model of
``mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py``
(mixup/cutmix off, 3 classes) against our stage-3 clustering model. The timm
case (``vit_base_patch16_224``, drop path 0.1, 3 classes; skipped with one
line when timm is not installed) is a plain PyTorch step on a device-resident
batch: ``torch.autocast`` fp16 with a ``GradScaler`` (fp32 on CPU) and
AdamW (fused on CUDA), the reference of a step done well.

    python benchmarks/bench_gpu_train.py --json OUT.json [--quick]
        [--stage2 CONFIG] [--stage3 CONFIG] [--iters 300] [--batch 64]
        [--images 512] [--workers 12] [--device cuda|cpu] [--only CASE ...]

``--quick`` runs fewer iterations (for ``benchmarks/gpu_check.sh``);
``--device cpu`` runs on the CPU in fp32 (with the demo configs and a small
``--batch`` it is the smoke test of ``tests/test_tools``). ``--json``
writes ``{case: {img_per_s, ...}}`` (``img_per_s``: the step rate) and the
script prints a Markdown table; ``--out`` keeps the full record (environment,
ratios), by default ``benchmarks/results/bench_gpu_train.json``.
"""
import argparse
import copy
import io
import json
import os
import os.path as osp
import sys
import tempfile
import time
from multiprocessing import Pool

import numpy as np

BENCH_DIR = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(BENCH_DIR)
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, BENCH_DIR)

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')


def _write_image(args):
    path, seed, restart = args
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(seed)
    h, w = 1009, 1160
    # Smooth texture (upsampled noise) so JPEG sizes resemble real images.
    small = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((w, h), Image.BICUBIC)
    mask = Image.new('L', (w, h), 0)
    c = 180
    ImageDraw.Draw(mask).polygon([(c, 0), (w - c, 0), (w, c), (w, h - c),
                                  (w - c, h), (c, h), (0, h - c), (0, c)],
                                 fill=255)
    black = Image.new('RGB', (w, h))
    frame = Image.composite(img, black, mask)
    if not restart:
        frame.save(path, quality=90)
        return
    # a restart marker after every MCU and their index, as
    # tools/dataset_converters/add_restart_markers.py writes a copy
    from ecdl_mm.datasets.transforms import jpeg_restart
    buf = io.BytesIO()
    frame.save(buf, 'JPEG', quality=90, restart_marker_blocks=1)
    marked = jpeg_restart.add_index(buf.getvalue())
    if marked is None:
        raise RuntimeError('this Pillow wrote no restart markers '
                           '(restart_marker_blocks needs Pillow >= 11)')
    with open(path, 'wb') as f:
        f.write(marked)


def make_cohort(root, num_images, per_lesion=4, restart=False):
    """Synthetic cohort in the EC-DL layout plus a ``train.csv`` sheet;
    ``restart``: JPEGs with a restart marker after every MCU (the plain
    configs' loaders then Huffman-decode only each crop box's MCUs)."""
    jobs, rows = [], []
    num_lesions = max(1, num_images // per_lesion)
    for lesion in range(num_lesions):
        cls = lesion % len(CLASSES)
        folder = osp.join(root, CLASSES[cls], str(lesion), 'Images')
        os.makedirs(folder, exist_ok=True)
        rows.append(f'{cls},{CLASSES[cls]},{lesion}')
        for i in range(per_lesion):
            jobs.append((osp.join(folder,
                                  f'{i}.jpg'), lesion * 100 + i, restart))
    with Pool(min(16, os.cpu_count() or 1, len(jobs))) as pool:
        pool.map(_write_image, jobs)
    with open(osp.join(root, 'train.csv'), 'w') as f:
        f.write('class_index,class_english,lesion_index\n')
        f.write('\n'.join(rows) + '\n')
    return len(jobs)


def cohort_is_restart_marked(root):
    """Whether the first JPEG of a cohort has a restart marker after every
    MCU (``make_cohort(..., restart=True)`` writes all or none)."""
    from ecdl_mm.datasets.transforms import jpeg_restart
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name.endswith('.jpg'):
                with open(osp.join(folder, name), 'rb') as f:
                    return jpeg_restart.scan_layout(f.read()) is not None
    return False


def mm_config(name):
    """Path of a config shipped inside the mmpretrain package."""
    import mmpretrain
    return osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', name)


def _sync():
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class _Timer:
    """An mmengine hook recording a synchronised timestamp per iteration."""

    def __init__(self):
        from mmengine.hooks import Hook

        times = self.times = []

        class TimerHook(Hook):
            priority = 'LOWEST'

            def after_train_iter(self,
                                 runner,
                                 batch_idx,
                                 data_batch=None,
                                 outputs=None):
                _sync()
                times.append(time.perf_counter())

        self.hook = TimerHook()


def _drop_pretrained(model_cfg):
    """No download and no local stage-1/2 checkpoint: random weights."""
    for part in ('backbone', 'neck', 'head'):
        sub = model_cfg.get(part)
        if sub is not None and sub.get('init_cfg') is not None:
            inits = sub.init_cfg if isinstance(sub.init_cfg,
                                               list) else [sub.init_cfg]
            kept = [i for i in inits if i.get('type') != 'Pretrained']
            sub.init_cfg = kept or None


def configure(cfg_path, args, root, model=None, stage=2):
    from mmengine.config import Config
    cfg = Config.fromfile(cfg_path)
    if model is not None:
        cfg.model = model
        # ClassCenterHook belongs to our clustering head only.
        cfg.custom_hooks = [
            h for h in cfg.get('custom_hooks', [])
            if h.get('type') != 'ClassCenterHook'
        ]
    _drop_pretrained(cfg.model)
    cfg.work_dir = tempfile.mkdtemp(prefix='gpubench_')
    cfg.load_from = None
    cfg.resume = False
    ow = cfg.optim_wrapper
    if args.device == 'cuda':
        ow.type = 'AmpOptimWrapper'
        ow.loss_scale = 'dynamic'
    else:  # AmpOptimWrapper needs a GPU
        ow.type = 'OptimWrapper'
        ow.pop('loss_scale', None)
    dl = cfg.train_dataloader
    # What tools/train.py sets (Runner.from_cfg alone would not): one
    # batched tensor for the data preprocessor, pinned for the copy.
    dl.setdefault('collate_fn', dict(type='default_collate'))
    dl.pin_memory = args.device == 'cuda'
    dl.batch_size = args.batch
    dl.num_workers = args.workers
    dl.persistent_workers = args.workers > 0
    if dl.dataset.get('type') == 'ClassBalancedDataset':
        dl.dataset = dl.dataset.dataset  # uniform sampling, as full size
    ds = dl.dataset
    if stage == 2:
        dl.dataset = dict(
            type='CustomDataset',
            data_root=root,
            ann_file='',
            data_prefix='',
            with_label=False,
            pipeline=ds.pipeline)
    else:
        ds.data_root = root
        ds.ann_file = 'train.csv'
        ds.pop('sheet_name', None)
        ds.disjoint_with = []
        ds.check_images = False
        if dl.get('sampler', {}).get('type') != 'DefaultSampler':
            dl.sampler = dict(type='DefaultSampler', shuffle=True)
    iters_per_epoch = max(1, args.images // args.batch)
    epochs = max(1, -(-args.iters // iters_per_epoch))
    # the config's loop (the GPU data-path configs prefetch), epoch-based
    loop = cfg.get('train_cfg', {}).get('type', 'EpochBasedTrainLoop')
    cfg.train_cfg = dict(type=loop, max_epochs=epochs, val_interval=10**9)
    if loop == 'DevicePrefetchTrainLoop':
        # a stuck preparation fails the case well inside gpu_check's budget
        cfg.train_cfg['timeout'] = 60
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg',
                'test_dataloader', 'test_evaluator', 'test_cfg'):
        cfg[key] = None
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=10**9, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.env_cfg = dict(
        cudnn_benchmark=args.device == 'cuda',
        dist_cfg=dict(backend='nccl' if args.device == 'cuda' else 'gloo'))
    cfg.launcher = 'none'
    return cfg, epochs * iters_per_epoch


def _peak_gib():
    import torch
    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def _allocated_gib():
    import torch
    if not torch.cuda.is_available():
        return None
    return torch.cuda.memory_allocated() / 2**30


def _reset_peak():
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _stop_workers(loader):
    """End a DataLoader's persistent workers now: left to the garbage
    collector, each join waits out its 5 s timeout inside the next case
    (12 workers: a minute of the next case's set-up)."""
    it = getattr(loader, '_iterator', None)
    workers = getattr(it, '_workers', None) or []
    for w in workers:
        if w.is_alive():
            w.terminate()
    if it is not None and hasattr(it, '_shutdown_workers'):
        it._shutdown_workers()
    loader._iterator = None


def mmpretrain_vit_model(stage3_config):
    """The ViT-B/16 fine-tuning model of mmpretrain's MAE benchmark
    config, 3 classes, mixup / cutmix off (equal work), with the data
    preprocessor of ``stage3_config``'s model."""
    from mmengine.config import Config
    model = Config.fromfile(
        mm_config(
            'mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py')).model
    model.head.num_classes = 3
    model.pop('train_cfg', None)
    pre = Config.fromfile(stage3_config).model.get('data_preprocessor')
    model.data_preprocessor = pre
    if pre is None:
        model.pop('data_preprocessor')
    return model


def custom_hooks(runner, cfg):
    """The runner's hooks that the config's ``custom_hooks`` name."""
    names = {c['type'] for c in cfg.get('custom_hooks', [])}
    return [h for h in runner.hooks if type(h).__name__ in names]


def train_step_fn(runner, model, ow, hooks, batch):
    """One training step on ``batch`` followed, as in training, by the
    ``after_train_iter`` of ``hooks`` (``ClassCenterHook`` banks the
    clustering head's features; the head refuses a second step
    otherwise)."""
    counter = [0]

    def step():
        outputs = model.train_step(batch, ow)
        for hook in hooks:
            hook.after_train_iter(runner, counter[0], batch, outputs)
        counter[0] += 1

    return step


def run_case(name, cfg, total_iters, args):
    from mmengine.runner import Runner
    timer = _Timer()
    runner = Runner.from_cfg(cfg)
    runner.register_hook(timer.hook)
    t0 = time.perf_counter()
    runner.train()
    wall = time.perf_counter() - t0
    times = timer.times
    skip = max(1, len(times) // 10)
    if len(times) - 1 - skip < 1:
        skip = 0
    e2e = args.batch * (len(times) - 1 - skip) / (times[-1] - times[skip])
    data_times = runner.message_hub.get_scalar('train/data_time').data[0]

    # The model's own cost on one pre-loaded batch, each step followed by
    # the custom hooks' after_train_iter as in training (ClassCenterHook
    # banks the features; the clustering head refuses a second step
    # otherwise).
    model, ow = runner.model, runner.optim_wrapper
    custom = custom_hooks(runner, cfg)
    loader = runner.train_dataloader
    # The data path alone, with the config's workers (its own rate; end to
    # end is at most the lower of it and the step's).
    it = iter(loader)
    batch = next(it)
    t = time.perf_counter()
    n_loader = 0
    for _ in range(max(1, args.steps)):
        nxt = next(it, None)
        if nxt is None:
            it = iter(loader)
            nxt = next(it)
        n_loader += len(nxt['inputs'])
    loader_rate = n_loader / (time.perf_counter() - t)
    _stop_workers(loader)

    step = train_step_fn(runner, model, ow, custom, batch)
    for _ in range(args.warmup):
        step()
    _sync()
    row = dict(
        case=name,
        iters=len(times),
        e2e_img_per_s=round(e2e, 1),
        loader_img_per_s=round(loader_rate, 1),
        loader_img_per_s_per_worker=round(loader_rate / max(1, args.workers),
                                          1),
        mean_data_time_s=round(float(np.mean(data_times[skip:])), 4),
        wall_s=round(wall, 1),
        hooks_in_step=[type(h).__name__ for h in custom],
        params_m=round(sum(p.numel() for p in model.parameters()) / 1e6, 2))
    return row, step


def time_steps(cases, args):
    """The step rate of every case, timed in interleaved rounds (each
    round runs ``steps // rounds`` steps of every case in turn; the median
    round counts), so that a GPU whose speed drifts during the run (clocks,
    a neighbour) shifts every case alike and the ratios stay fair."""
    rounds = max(1, min(args.rounds, args.steps))
    per = max(1, args.steps // rounds)
    rates = {name: [] for name, _, _ in cases}
    peaks = {}
    for r in range(rounds):
        for name, row, step in cases:
            _sync()
            if r == 0:
                _reset_peak()
                resident = _allocated_gib()
            t = time.perf_counter()
            for _ in range(per):
                step()
            _sync()
            rates[name].append(args.batch * per / (time.perf_counter() - t))
            if r == 0 and resident is not None:
                peaks[name] = round(_peak_gib() - resident, 2)
    for name, row, _ in cases:
        rate = float(np.median(rates[name]))
        row['img_per_s'] = round(rate, 1)
        row['step_img_per_s_rounds'] = [round(x, 1) for x in rates[name]]
        row['peak_gib'] = peaks.get(name)
        if row.get('e2e_img_per_s'):
            row['e2e_vs_step'] = round(row['e2e_img_per_s'] / rate, 3)
        print(json.dumps(row), flush=True)


def run_timm(args):
    """timm's ViT-B/16 in a plain PyTorch AMP step on a device batch."""
    import torch
    try:
        import timm
    except ImportError:
        print(
            'timm is not installed: the timm ViT-B/16 case is skipped',
            flush=True)
        return None
    device = torch.device(args.device)
    name = 'vit_base_patch16_224' if not args.timm_model else args.timm_model
    model = timm.create_model(
        name, pretrained=False, num_classes=3, drop_path_rate=0.1).to(device)
    size = model.default_cfg.get('input_size', (3, 224, 224))[-1]
    cuda = device.type == 'cuda'
    opt = torch.optim.AdamW(
        model.parameters(), lr=1e-3, weight_decay=0.05, fused=cuda)
    scaler = torch.amp.GradScaler('cuda', enabled=cuda)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(args.batch, 3, size, size, device=device)
    y = torch.randint(0, 3, (args.batch, ), device=device)

    def step():
        with torch.autocast(device.type, torch.float16, enabled=cuda):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(args.warmup):
        step()
    _sync()
    row = dict(
        case='stage3_timm_vit',
        model=name,
        params_m=round(sum(p.numel() for p in model.parameters()) / 1e6, 2))
    return row, step


REFERENCES = (('stage2_ecmae', 'stage2_mmpretrain_mae'),
              ('stage2_ecmae_gpu_decode', 'stage2_ecmae'),
              ('stage3_clustering_gpu_augment', 'stage3_ecdl_clustering'),
              ('stage3_ecdl_clustering', 'stage3_mmpretrain_vit'),
              ('stage3_ecdl_clustering', 'stage3_timm_vit'))


def _write(path, doc):
    """``doc`` as JSON at ``path``, replaced in one step: a kill
    mid-write keeps the previous file."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(doc, f, indent=1)
    os.replace(path + '.tmp', path)


def _write_partial(path, rows):
    """The cases done so far (end to end, no step rates yet): what a
    caller that kills this run for time still finds at ``--out``."""
    _write(
        path,
        dict(benchmark='bench_gpu_train', partial=True, rows=rows, ratios=[]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--stage2',
        default=osp.join(REPO_ROOT, 'configs', 'ecdl',
                         'ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py'),
        help='stage-2 config (default: the shipped ViT-B/16 one)')
    parser.add_argument(
        '--stage2-gpu-decode',
        default=osp.join(
            REPO_ROOT, 'configs', 'ecdl',
            'ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi-gpu-decode.py'),
        help='stage-2 config decoding on the GPU (default: the shipped one)')
    parser.add_argument(
        '--stage3',
        default=osp.join(REPO_ROOT, 'configs', 'ecdl',
                         'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py'),
        help='stage-3 config (default: the shipped ViT-B/16 one)')
    parser.add_argument(
        '--stage3-gpu-augment',
        default=osp.join(
            REPO_ROOT, 'configs', 'ecdl',
            'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi-gpu-augment.py'),
        help='stage-3 config decoding and augmenting on the GPU (default: '
        'the shipped one)')
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument(
        '--steps',
        type=int,
        help='timed train_step calls per case (default 50; 15 with --quick)')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument(
        '--rounds',
        type=int,
        default=5,
        help='interleaved timing rounds over the cases (median counts)')
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--images', type=int, default=512)
    parser.add_argument('--workers', type=int, default=12)
    parser.add_argument(
        '--quick',
        action='store_true',
        help='at most --iters 40 --warmup 3 --images 256; --steps 15 unless '
        'given')
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument('--data', help='existing synthetic cohort folder')
    parser.add_argument(
        '--restart-markers',
        action='store_true',
        help='write the synthetic JPEGs with a restart marker after every '
        'MCU (as add_restart_markers.py copies a dataset)')
    parser.add_argument('--only', nargs='*', help='case names to run')
    parser.add_argument(
        '--timm-model', help='timm model name (default vit_base_patch16_224)')
    parser.add_argument(
        '--json', help='write {case: {img_per_s, ...}} to this file')
    parser.add_argument(
        '--out',
        default=osp.join(BENCH_DIR, 'results', 'bench_gpu_train.json'))
    args = parser.parse_args()
    if args.quick:
        args.iters = min(args.iters, 40)
        args.steps = 15 if args.steps is None else args.steps
        args.warmup, args.images = min(args.warmup, 3), min(args.images, 256)
    args.steps = 50 if args.steps is None else args.steps
    if args.device == 'cpu':
        # The runner places the model on a GPU whenever one is visible.
        os.environ['CUDA_VISIBLE_DEVICES'] = ''

    import torch
    from mmengine.config import Config
    if args.device == 'cuda' and not torch.cuda.is_available():
        sys.exit('bench_gpu_train.py: no CUDA GPU (use --device cpu)')
    from _common import env_info

    import ecdl_mm  # noqa: F401
    from ecdl_mm.datasets.transforms import turbojpeg_region

    # LoadRandomResizedCrop(decoder='auto') in the plain configs' workers
    decoder = turbojpeg_region.library_status()
    print(f'loader workers, LoadRandomResizedCrop: {decoder}', flush=True)

    root = args.data or tempfile.mkdtemp(prefix='ecnbi_synth_')
    if not osp.isfile(osp.join(root, 'train.csv')):
        t = time.perf_counter()
        n = make_cohort(root, args.images, restart=args.restart_markers)
        print(
            f'synthetic cohort: {n} images in {root} '
            f'({time.perf_counter() - t:.0f} s)',
            flush=True)
    args.images = sum(
        len(files) for _, _, files in os.walk(root)
        if files and files[0].endswith('.jpg'))
    if args.restart_markers and not cohort_is_restart_marked(root):
        sys.exit(f'bench_gpu_train.py: --restart-markers, but the cohort in '
                 f'{root} (--data) was written without them: give a new '
                 'folder')

    def wanted(name):
        return not args.only or name in args.only

    mm_mae = mm_vit = None
    if wanted('stage2_mmpretrain_mae'):
        mm_mae = Config.fromfile(
            mm_config(
                'mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')).model
    if wanted('stage3_mmpretrain_vit'):
        mm_vit = mmpretrain_vit_model(args.stage3)

    cases = [
        ('stage2_ecmae', args.stage2, None, 2),
        # the same model, crops decoded on the GPU by its data preprocessor
        # (its step includes the decode; its end to end is compared with
        # the stage2_ecmae step, the model's own rate)
        ('stage2_ecmae_gpu_decode', args.stage2_gpu_decode, None, 2),
        ('stage2_mmpretrain_mae', args.stage2, mm_mae, 2),
        ('stage3_ecdl_clustering', args.stage3, None, 3),
        ('stage3_mmpretrain_vit', args.stage3, mm_vit, 3),
        # the same model, crops decoded and augmented on the GPU
        ('stage3_clustering_gpu_augment', args.stage3_gpu_augment, None, 3),
    ]
    rows, timed = [], []
    for name, cfg_path, model, stage in cases:
        if not wanted(name):
            continue
        try:
            cfg, total = configure(cfg_path, args, root, copy.deepcopy(model),
                                   stage)
            row, step = run_case(name, cfg, total, args)
        except Exception as err:  # noqa: BLE001 (the other cases still run)
            import traceback
            traceback.print_exc()
            print(f'bench_gpu_train: case {name} failed: {err!r}', flush=True)
            rows.append(dict(case=name, img_per_s=None, error=repr(err)))
            _write_partial(args.out, rows)
            continue
        rows.append(row)
        timed.append((name, row, step))
        _write_partial(args.out, rows)
    if wanted('stage3_timm_vit'):
        built = run_timm(args)
        if built is None:
            rows.append(
                dict(
                    case='stage3_timm_vit',
                    img_per_s=None,
                    skipped='timm is not installed'))
        else:
            rows.append(built[0])
            timed.append(('stage3_timm_vit', ) + built)
    time_steps(timed, args)

    by = {r['case']: r for r in rows}
    ratios = []
    # the GPU-decode cases' end to end against their model's plain step
    for dev, plain in (('stage2_ecmae_gpu_decode', 'stage2_ecmae'),
                       ('stage3_clustering_gpu_augment',
                        'stage3_ecdl_clustering')):
        dev, plain = by.get(dev), by.get(plain)
        if dev and plain and dev.get('e2e_img_per_s') and \
                plain.get('img_per_s'):
            value = round(dev['e2e_img_per_s'] / plain['img_per_s'], 3)
            dev['e2e_vs_model_step'] = value
            ratios.append(
                dict(
                    name=f"{dev['case']} end to end / {plain['case']} step",
                    value=value,
                    higher_is='better'))
    for ours, theirs in REFERENCES:
        if by.get(ours, {}).get('img_per_s') and by.get(theirs,
                                                        {}).get('img_per_s'):
            value = round(by[ours]['img_per_s'] / by[theirs]['img_per_s'], 3)
            by[ours][f'step_vs_{theirs}'] = value
            ratios.append(
                dict(
                    name=f'{ours}/{theirs} step img/s',
                    value=value,
                    higher_is='better'))
    result = dict(
        benchmark='bench_gpu_train',
        env=env_info(),
        config=dict(
            stage2=args.stage2,
            stage3=args.stage3,
            stage3_gpu_augment=args.stage3_gpu_augment,
            device=args.device,
            batch=args.batch,
            images=args.images,
            workers=args.workers,
            region_decoder=decoder,
            iters=args.iters,
            steps=args.steps,
            amp='fp16 dynamic loss scale'
            if args.device == 'cuda' else 'fp32'),
        rows=rows,
        ratios=ratios)
    _write(args.out, result)
    if args.json:
        _write(args.json, {r['case']: r for r in rows})
    print('\n| case | step img/s | e2e img/s | e2e / step | loader img/s '
          '| peak GiB | data s/iter |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['case']} | {r.get('img_per_s')} | "
              f"{r.get('e2e_img_per_s', '-')} | {r.get('e2e_vs_step', '-')} | "
              f"{r.get('loader_img_per_s', '-')} | "
              f"{r.get('peak_gib', '-')} | {r.get('mean_data_time_s', '-')} |")
    for r in ratios:
        print(f"{r['name']}: {r['value']}")


if __name__ == '__main__':
    main()

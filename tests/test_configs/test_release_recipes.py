# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The shipped configs against the EC-DL release's recipes, value by value
(docs/design.md, "The release's recipes"; configs/ecdl/README.md).

Every value of the release table is read from the resolved config
(``Config.fromfile``). A value we change on purpose is a named deviation: the
test checks that the config really deviates that way and that the deviation
has its row in the table of configs/ecdl/README.md.
"""
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config, ConfigDict

#: Resize backends with the release's filter (Pillow's, antialiased):
#: Pillow itself, or torch's uint8 kernel (LoadRandomResizedCrop).
PILLOW_FILTER = ('pillow', 'torch')

STAGE2 = [
    'ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi.py',
    # the same recipe, crops decoded on the GPU
    'ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi-gpu-decode.py',
    'ecmae_vit-base-p16_mocov3-pre_8xb16-amp-coslr-20e_ecnbi.py',
    'ecmae_vit-base-p14_dinov2-pre_8xb16-amp-coslr-20e_ecnbi.py',
]
STAGE3 = [
    'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py',
    'ecdl-clustering_vit-base-p16_8xb8-cbs-300e_ecnbi.py',
    'ecdl-clustering_vit-base-p16_mocov3-pre_8xb8-300e_ecnbi.py',
    'ecdl-clustering_vit-base-p14_dinov2-pre_8xb8-300e_ecnbi.py',
    # the same recipe, images decoded, cropped and augmented on the GPU
    'ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi-gpu-augment.py',
]
DEMO = [
    'ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py',
    'ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py',
    'ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px.py',
    'resnet18-tiny_1xb8-10e_ecnbi-demo-64px.py',
]


def load(repo_root, name):
    return Config.fromfile(osp.join(repo_root, 'configs', 'ecdl', name))


def gpus_and_batch(name):
    """'..._8xb16-...' -> (8, 16): the naming convention's GPUs x batch."""
    gpus, batch = re.search(r'_(\d+)xb(\d+)', name).groups()
    return int(gpus), int(batch)


def steps(pipeline, kind):
    return [t for t in pipeline if t['type'] == kind]


def schedule(cfg):
    warm, cos = cfg.param_scheduler
    assert warm.type == 'LinearLR' and cos.type == 'CosineAnnealingLR'
    for s in (warm, cos):
        assert s.by_epoch and s.convert_to_iter_based  # per step
    return warm, cos


def inner_dataset(loader):
    ds = loader.dataset
    return ds.get('dataset', ds)


# ---------------------------------------------------------------- stage 2
@pytest.mark.parametrize('name', STAGE2)
def test_stage2_in_domain_mae_values(repo_root, name):
    cfg = load(repo_root, name)
    # 16 per GPU, 20 epochs
    assert gpus_and_batch(name)[1] == cfg.train_dataloader.batch_size == 16
    assert cfg.train_cfg.max_epochs == 20
    # AdamW betas (0.9, 0.999), eps 1e-8, wd 0.05, lr 1.5e-4 absolute
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW'
    assert tuple(opt.betas) == (0.9, 0.999) and opt.eps == 1e-8
    assert opt.weight_decay == 0.05 and opt.lr == 1.5e-4
    assert cfg.optim_wrapper.constructor == 'GroupedOptimWrapperConstructor'
    assert not cfg.auto_scale_lr.get('enable', False)
    # warm-up 2 epochs from 1e-6, cosine to 1e-5
    warm, cos = schedule(cfg)
    assert warm.start_factor * opt.lr == pytest.approx(1e-6)
    assert (warm.begin, warm.end) == (0, 2)
    assert (cos.begin, cos.end, cos.T_max) == (2, 20, 18)
    assert cos.eta_min == 1e-5
    # drop path 0, mask 0.75, norm_pix target; decoder 384 x 4 x 6, new
    model = cfg.model
    assert model.type == 'ECMAE'
    assert model.backbone.get('drop_path_rate', 0.) == 0.
    assert model.backbone.mask_ratio == 0.75
    assert model.head.norm_pix is True
    assert model.neck.decoder_embed_dims == 384
    assert model.neck.decoder_num_layers == 4
    assert model.neck.decoder_num_heads == 6
    assert model.neck.get('init_cfg') is None
    # starts from ImageNet self-supervised weights (stage 1, by URL)
    init = model.backbone.init_cfg
    assert init.type == 'Pretrained' and init.prefix == 'backbone.'
    assert init.checkpoint.startswith('https://download.openmmlab.com/')
    # RandomResizedCrop(224), scale (0.08, 1), bilinear, no flip (its
    # boxes, loaded by LoadRandomResizedCrop: a named deviation below)
    pipeline = cfg.train_dataloader.dataset.pipeline
    loader = 'LoadEncodedRandomResizedCrop' if name.endswith(
        '-gpu-decode.py') else 'LoadRandomResizedCrop'
    [rrc] = steps(pipeline, loader)
    assert rrc.scale == 224 and tuple(rrc.crop_ratio_range) == (0.08, 1.0)
    # Pillow's filter, computed by torch (PILLOW_FILTER)
    assert rrc.interpolation == 'bilinear' and rrc.backend in PILLOW_FILTER
    assert rrc.get('aspect_ratio_range') is None  # default (3/4, 4/3)
    assert not steps(pipeline, 'RandomFlip')
    assert [t.type for t in pipeline] == [loader, 'PackInputs']
    if loader == 'LoadEncodedRandomResizedCrop':  # decoded by the model
        pre = cfg.data_preprocessor
        assert pre.type == 'EncodedCropDataPreprocessor'
        assert pre.interpolation == rrc.interpolation
        assert pre.backend in PILLOW_FILTER
        assert 'crop_bbox' in pipeline[1].meta_keys
        assert cfg.train_dataloader.collate_fn.type == 'pseudo_collate'


# ---------------------------------------------------------------- stage 3
@pytest.mark.parametrize('name', STAGE3)
def test_stage3_fine_tune_values(repo_root, name):
    cfg = load(repo_root, name)
    gpus, per_gpu = gpus_and_batch(name)
    # batch 64, 300 epochs
    assert cfg.train_dataloader.batch_size == per_gpu
    assert gpus * per_gpu == 64
    assert cfg.train_cfg.max_epochs == 300
    # AdamW betas (0.9, 0.999), wd 0.05, layer decay 0.75, lr 1e-3 absolute
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW' and opt.lr == 1e-3
    assert tuple(opt.betas) == (0.9, 0.999) and opt.eps == 1e-8
    assert opt.weight_decay == 0.05
    # mmpretrain's layer decay, equal param groups merged (the same update:
    # tests/test_engine/test_optimizers)
    assert cfg.optim_wrapper.constructor == \
        'GroupedLayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.75
    assert not cfg.auto_scale_lr.get('enable', False)
    # warm-up 5 epochs from 1e-6, cosine to 1e-6
    warm, cos = schedule(cfg)
    assert warm.start_factor * opt.lr == pytest.approx(1e-6)
    assert (warm.begin, warm.end) == (0, 5)
    assert (cos.begin, cos.end, cos.T_max, cos.eta_min) == (5, 300, 295, 1e-6)
    # drop path 0.1, label smoothing 0.1, no mixup / cutmix
    model = cfg.model
    assert model.backbone.type == 'ECViT'
    assert model.backbone.drop_path_rate == 0.1
    assert model.head.loss.type == 'LabelSmoothLoss'
    assert model.head.loss.label_smooth_val == 0.1
    assert model.head.loss.mode == 'original'
    assert 'augments' not in (model.get('train_cfg') or {})
    # head: trunc_normal(0.02) x 0.001 on weight, bias 0
    [init] = model.head.init_cfg
    assert init.type == 'TruncNormal' and init.layer == 'Linear'
    assert init.std == pytest.approx(0.02 * 0.001) and init.bias == 0
    # starts from the stage-2 encoder
    bb_init = model.backbone.init_cfg
    assert bb_init.type == 'Pretrained' and bb_init.prefix == 'backbone.'
    stage2 = osp.basename(osp.dirname(bb_init.checkpoint)) + '.py'
    assert stage2 in STAGE2
    s2 = load(repo_root, stage2)
    assert bb_init.checkpoint == (f'work_dirs/{stage2[:-3]}/'
                                  f'epoch_{s2.train_cfg.max_epochs}.pth')
    for key in ('patch_size', 'img_size'):
        assert model.backbone[key] == s2.model.backbone[key]
    assert (model.backbone.get('init_values', 0) > 0) == \
        (s2.model.backbone.get('init_values', 0) > 0)
    # supervised deep clustering
    assert model.head.type == 'SupervisedClusteringHead'
    assert model.head.center_loss.temperature == 0.07
    assert model.head.center_loss.loss_weight == 1.0
    assert [h.type for h in cfg.custom_hooks] == ['ClassCenterHook']
    # train: RandomResizedCrop scale (0.08, 1) bicubic, hflip 0.5,
    # RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25 pixel mode 1 box
    pipeline = inner_dataset(cfg.train_dataloader).pipeline
    if name.endswith('-gpu-augment.py'):  # drawn by the workers, then
        assert [t.type for t in pipeline] == [  # applied by the model
            'LoadEncodedRandomResizedCrop', 'DeviceAugment', 'PackInputs'
        ]
        pre = cfg.data_preprocessor
        assert pre.type == 'EncodedCropClsDataPreprocessor'
        assert pre.interpolation == pipeline[0].interpolation
        assert pre.backend == pipeline[0].backend in PILLOW_FILTER
        assert {'crop_bbox', 'device_augments'} <= set(pipeline[2].meta_keys)
        assert cfg.train_dataloader.collate_fn.type == 'pseudo_collate'
        pipeline = [ConfigDict(pipeline[0], type='LoadRandomResizedCrop')
                    ] + list(pipeline[1].transforms) + [pipeline[2]]
    assert [t.type for t in pipeline] == [
        'LoadRandomResizedCrop', 'RandomFlip', 'RandAugmentLUT',
        'RandomErasingFast', 'PackInputs'
    ]
    [rrc] = steps(pipeline, 'LoadRandomResizedCrop')
    assert rrc.scale == 224 and tuple(rrc.crop_ratio_range) == (0.08, 1.0)
    assert rrc.get('aspect_ratio_range') is None  # default (3/4, 4/3)
    assert rrc.interpolation == 'bicubic' and rrc.backend in PILLOW_FILTER
    [flip] = steps(pipeline, 'RandomFlip')
    assert flip.prob == 0.5 and flip.direction == 'horizontal'
    # mmpretrain's RandAugment with two ops computed through lookup tables
    # (their pixels and draws: test_lut_ops.py)
    [ra] = steps(pipeline, 'RandAugmentLUT')
    assert (ra.policies, ra.num_policies, ra.magnitude_level, ra.magnitude_std,
            ra.total_level) == ('timm_increasing', 2, 9, 0.5, 10)
    # mmpretrain's RandomErasing, its noise drawn faster (the same draws and
    # pixels: test_random_erasing.py)
    [re_] = steps(pipeline, 'RandomErasingFast')
    assert re_.erase_prob == 0.25
    assert (re_.min_area_ratio, re_.max_area_ratio) == (0.02, 1 / 3)
    # 'pixel' mode: per-pixel noise with the normalisation's mean / std
    assert re_.mode == 'rand'
    assert list(re_.fill_color) == cfg.data_preprocessor.mean[::-1]
    assert list(re_.fill_std) == cfg.data_preprocessor.std[::-1]
    # test: the whole image resized to 224x224, aspect not kept, no crop
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        pipeline = loader.dataset.pipeline
        [resize] = steps(pipeline, 'Resize')
        assert tuple(resize.scale) == (224, 224)
        assert resize.keep_ratio is False
        assert not steps(pipeline, 'CenterCrop')
        assert not steps(pipeline, 'ResizeEdge')


# ----------------------------------------------- deliberate deviations
def _decode_test(cfg):
    load_step = cfg.test_dataloader.dataset.pipeline[0]
    return load_step.type == 'LoadResizedImage' and not load_step.resize


def _decode_train(cfg):
    return inner_dataset(cfg.train_dataloader).pipeline[0].type == \
        'LoadResizedImage'


def _decode_crop(cfg):
    return inner_dataset(cfg.train_dataloader).pipeline[0].type in (
        'LoadRandomResizedCrop', 'LoadEncodedRandomResizedCrop')


def _erasing(cfg):
    pipe = list(inner_dataset(cfg.train_dataloader).pipeline)
    for t in list(pipe):  # the -gpu-augment config's, drawn by the workers
        pipe += t.get('transforms', [])
    return any(
        t.type in ('RandomErasing', 'RandomErasingFast') and t.mode == 'rand'
        and t.get('fill_std') for t in pipe)


def _class_balanced(cfg):
    return cfg.train_dataloader.dataset.type == 'ClassBalancedDataset'


def _mae_1600e(cfg):
    return '1600e' in cfg.model.backbone.init_cfg.checkpoint


def _centre_form(cfg):
    return cfg.model.head.type == 'SupervisedClusteringHead'


def _tiny(cfg):
    bb = cfg.model.backbone
    return bb.get('img_size', 64) == 64 or bb.type == 'ResNet'


def _no_val(cfg):
    return cfg.get('val_dataloader') is None and cfg.get('val_cfg') is None


# name (first cell of a row of the README table) -> (configs, check)
DEVIATIONS = {
    'centre-loss form': (STAGE3 + DEMO[1:2], _centre_form),
    'test-time decode': (STAGE3 + DEMO[1:], _decode_test),
    'train-time decode': (STAGE2 + STAGE3, _decode_crop),
    'random-erasing noise': (STAGE3 + DEMO[1:], _erasing),
    'stage-1 MAE weights': (STAGE2[:1], _mae_1600e),
    'class-balanced sampling': (STAGE3[1:2] + DEMO[1:3], _class_balanced),
    'demo: model size': (DEMO, _tiny),
    'demo: schedule': (DEMO, lambda cfg: cfg.train_cfg.max_epochs <= 30),
    'demo: no validation': (DEMO[1:], _no_val),
    'demo: train-time decode': (DEMO[:3], _decode_train),
}

# What the README's "ours" cell must name for each deviation.
ROW_NAMES = {
    'centre-loss form': "ClusterCenterLoss(form='ecdl')",
    'test-time decode': 'LoadResizedImage',
    'train-time decode': 'LoadRandomResizedCrop',
    'random-erasing noise': "RandomErasing(mode='rand'",
    'stage-1 MAE weights': '1600-epoch',
    'class-balanced sampling': 'ClassBalancedDataset(oversample_thr=0.5)',
    'demo: model size': 'ECViT',
    'demo: schedule': '30 epochs',
    'demo: no validation': 'save_best',
    'demo: train-time decode': 'LoadResizedImage',
}


def readme_rows(repo_root):
    text = open(osp.join(repo_root, 'configs', 'ecdl', 'README.md')).read()
    section = text.split('## Deviations from the release', 1)[1]
    section = section.split('\n## ', 1)[0]
    return {
        line.split('|')[1].strip(): line
        for line in section.splitlines()
        if line.startswith('|') and not line.startswith('|---')
    }


@pytest.mark.parametrize('deviation', sorted(DEVIATIONS))
def test_every_deviation_is_real_and_in_the_readme(repo_root, deviation):
    names, check = DEVIATIONS[deviation]
    for name in names:
        assert check(load(repo_root, name)), (deviation, name)
    rows = readme_rows(repo_root)
    assert deviation in rows, f'no row {deviation!r} in configs/ecdl/README.md'
    what, release, ours, why = [
        c.strip() for c in rows[deviation].strip().strip('|').split('|')
    ]
    assert what == deviation and release and why and ours != release
    # the "ours" cell names what the configs set (checked above)
    assert ROW_NAMES[deviation] in ours, (deviation, ours)


def test_centre_loss_row_defers_to_benchmarks(repo_root):
    row = readme_rows(repo_root)['centre-loss form']
    assert 'benchmarks/' in row


# ------------------------------------------- honest model selection
def all_configs(repo_root):
    return sorted(
        osp.basename(p)
        for p in glob.glob(osp.join(repo_root, 'configs', 'ecdl', '*.py')))


def test_configs_list_is_complete(repo_root):
    stage1 = [n for n in all_configs(repo_root) if n.endswith('_headless.py')]
    assert len(stage1) == 3
    assert sorted(STAGE2 + STAGE3 + DEMO + stage1) == all_configs(repo_root)


def _sheet(loader):
    ds = inner_dataset(loader)
    return (ds.get('data_root'), ds.get('ann_file'), ds.get('sheet_name'))


@pytest.mark.parametrize('name', STAGE2 + STAGE3 + DEMO)
def test_no_config_selects_on_its_test_split(repo_root, name):
    cfg = load(repo_root, name)
    save_best = cfg.default_hooks.checkpoint.get('save_best')
    if save_best:
        assert cfg.get('val_dataloader') is not None
        assert _sheet(cfg.val_dataloader) != _sheet(cfg.test_dataloader)
    if name in DEMO:
        assert not save_best  # the demo has no validation sheet


@pytest.mark.parametrize('name', STAGE3)
def test_full_size_splits_are_pairwise_disjoint(repo_root, name):
    cfg = load(repo_root, name)
    sheets = {
        split: inner_dataset(cfg[f'{split}_dataloader'])
        for split in ('train', 'val', 'test')
    }
    assert {
        s: d.sheet_name
        for s, d in sheets.items()
    } == dict(
        train='train', val='val', test='test')
    for split, ds in sheets.items():
        assert sorted(ds.disjoint_with) == sorted(set(sheets) - {split})
    assert cfg.default_hooks.checkpoint.save_best == 'lesion/accuracy'

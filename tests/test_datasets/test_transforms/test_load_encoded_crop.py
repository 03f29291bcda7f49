# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Training crops decoded on the model's device
(``LoadEncodedRandomResizedCrop`` + ``EncodedCropDataPreprocessor``) against
mmpretrain's ``LoadImageFromFile -> RandomResizedCrop`` on the same seeds:
the same boxes and random state, pixels within one grey level (the GPU runs
the same torch code; here libjpeg-turbo decodes, as OpenCV does)."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.dataset import pseudo_collate
from mmpretrain.registry import MODELS, TRANSFORMS

import ecdl_mm  # noqa: F401

# the CPU decode here is the point (the GPU runs the same code)
pytestmark = pytest.mark.filterwarnings(
    'ignore:EncodedCropDataPreprocessor runs on the CPU')

CROP = dict(
    scale=64,
    crop_ratio_range=(0.08, 1.0),
    backend='pillow',
    interpolation='bilinear')
META = ('img_path', 'ori_shape', 'img_shape', 'crop_bbox')


def _pipelines(**crop):
    ours = Compose([
        TRANSFORMS.build(dict(type='LoadEncodedRandomResizedCrop', **crop)),
        TRANSFORMS.build(dict(type='PackInputs', meta_keys=META))
    ])
    ref = Compose([
        TRANSFORMS.build(dict(type='LoadImageFromFile')),
        TRANSFORMS.build(dict(type='RandomResizedCrop', **crop)),
        TRANSFORMS.build(dict(type='PackInputs'))
    ])
    return ours, ref


def _preprocessor(**kw):
    return MODELS.build(
        dict(
            type='EncodedCropDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            to_rgb=True,
            **kw))


@pytest.fixture(scope='module')
def files(demo_root):
    found = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images', '*.jpg')))
    return found[::5]  # 8 frames of different lesions


# share of values exactly equal (measured 0.99988 / 0.99993 / 0.883): the
# fixed-point filters of Pillow and (more often) OpenCV round a value here
# and there to the next grey level; never further
@pytest.mark.parametrize('crop,exact', [
    (CROP, 0.999),
    (dict(CROP, interpolation='bicubic'), 0.999),
    (dict(CROP, backend='cv2', scale=(48, 80)), 0.85),
])
def test_same_boxes_and_pixels_as_random_resized_crop(files, crop, exact):
    ours, ref = _pipelines(**crop)
    got, want, after = [], [], []
    for seed, path in enumerate(files):
        np.random.seed(seed)
        item = ours(dict(img_path=path))
        after.append(np.random.random())
        assert item['inputs'].dim() == 1  # the file's bytes, not decoded
        got.append(item)
        np.random.seed(seed)
        r = ref(dict(img_path=path))
        assert np.random.random() == after[-1]  # same random state after
        want.append(r)
    batch = pseudo_collate(got)
    pre = _preprocessor(
        interpolation=crop['interpolation'], backend=crop['backend'])
    with pytest.warns(UserWarning, match="runs on the CPU"):  # once
        crops = pre.decode_crops(batch['inputs'], batch['data_samples'])
    ref_crops = torch.stack([w['inputs'] for w in want]).float()
    assert crops.shape == ref_crops.shape
    diff = (crops - ref_crops).abs()
    assert float(diff.max()) <= 1.0
    assert float((diff == 0).float().mean()) >= exact
    # and normalised as SelfSupDataPreprocessor normalises the CPU crops
    out = pre(batch, True)['inputs']
    ref_out = _preprocessor()(dict(
        inputs=ref_crops.to(torch.uint8),
        data_samples=[w['data_samples'] for w in want]), True)['inputs']
    assert float((out - ref_out).abs().max()) <= 1.0 / 57.0 + 1e-5


def test_png_and_rotated_files_are_cropped_by_the_loader(files, tmp_path):
    png = str(tmp_path / 'frame.png')
    cv2.imwrite(png, cv2.imread(files[0]))
    ours, ref = _pipelines(**CROP)
    np.random.seed(3)
    item = ours(dict(img_path=png))
    assert tuple(item['inputs'].shape) == (3, 64, 64)  # finished on the CPU
    np.random.seed(3)
    torch.testing.assert_close(item['inputs'],
                               ref(dict(img_path=png))['inputs'])
    # a batch mixing both kinds
    np.random.seed(0)
    batch = pseudo_collate([item, ours(dict(img_path=files[1]))])
    out = _preprocessor(**{k: CROP[k]
                           for k in ('interpolation',
                                     'backend')})(batch, True)['inputs']
    assert out.shape == (2, 3, 64, 64)
    np.testing.assert_allclose(
        out[0].numpy(),
        ((item['inputs'].flip(0).float() -
          torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)) /
         torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)).numpy(),
        atol=1e-5)


def test_clear_errors(files, tmp_path):
    ours, _ = _pipelines(**CROP)
    item = TRANSFORMS.build(dict(type='LoadEncodedRandomResizedCrop', **CROP))(
        dict(img_path=files[0]))
    packed = TRANSFORMS.build(dict(type='PackInputs'))(item)  # no crop_bbox
    with pytest.raises(KeyError, match="no 'crop_bbox'.*meta_keys"):
        _preprocessor().decode_crops([packed['inputs']],
                                     [packed['data_samples']])
    packed = TRANSFORMS.build(
        dict(type='PackInputs', meta_keys=('crop_bbox', )))(
            item)
    with pytest.raises(KeyError, match="no 'img_shape'"):
        _preprocessor().decode_crops([packed['inputs']],
                                     [packed['data_samples']])
    bad = tmp_path / 'bad.jpg'
    data = open(files[0], 'rb').read()
    bad.write_bytes(data[:600] + b'\x00' * 64)  # header only, no scan
    np.random.seed(0)
    with pytest.raises(Exception, match='bad.jpg'):
        b = pseudo_collate([ours(dict(img_path=str(bad)))])
        _preprocessor().decode_crops(b['inputs'], b['data_samples'])
    with pytest.raises(ValueError, match='interpolation'):
        _preprocessor(interpolation='lanczos')


def test_a_file_the_device_decoder_refuses_is_decoded_by_opencv(
        files, monkeypatch):
    import torchvision.io as tvio

    from ecdl_mm.models.data_preprocessors import encoded_crop_preprocessor
    real = tvio.decode_jpeg
    data = [
        torch.frombuffer(bytearray(open(f, 'rb').read()), dtype=torch.uint8)
        for f in files[:3]
    ]

    def picky(x, **kw):
        if isinstance(x, list) or x is data[1]:
            raise RuntimeError('nvjpeg: unsupported')
        return real(x, **kw)

    monkeypatch.setattr(tvio, 'decode_jpeg', picky)
    monkeypatch.setattr(encoded_crop_preprocessor, '_FALLBACK_WARNED', False)
    with pytest.warns(UserWarning, match='1 of 3 training JPEGs.*OpenCV'):
        out = encoded_crop_preprocessor._decode_batch(data, files[:3],
                                                      torch.device('cpu'))
    want = cv2.imread(files[1])[..., ::-1].transpose(2, 0, 1)
    np.testing.assert_array_equal(out[1].numpy(), want)
    assert [tuple(o.shape) for o in out] == [tuple(out[0].shape)] * 3
    garbage = torch.zeros(100, dtype=torch.uint8)
    with pytest.raises(ValueError, match='cannot decode training image x.jpg'):
        encoded_crop_preprocessor._decode_batch([garbage], ['x.jpg'],
                                                torch.device('cpu'))

    # a device failure is not a refused file: it reaches the caller
    # instead of sending every file to OpenCV
    for err in (torch.OutOfMemoryError('CUDA out of memory'),
                RuntimeError('CUDA error: an illegal memory access')):

        def failing(x, err=err, **kw):
            raise err

        monkeypatch.setattr(tvio, 'decode_jpeg', failing)
        with pytest.raises(RuntimeError, match='CUDA'):
            encoded_crop_preprocessor._decode_batch(data, files[:3],
                                                    torch.device('cpu'))


def test_cmyk_jpegs_are_cropped_by_the_loader(files, tmp_path):
    """nvJPEG's result for a 4-component JPEG is undefined: such files are
    decoded by OpenCV in the loader, as :class:`LoadRandomResizedCrop`
    does with them."""
    from PIL import Image
    path = str(tmp_path / 'cmyk.jpg')
    Image.open(files[0]).convert('CMYK').save(path, quality=95)
    ours, _ = _pipelines(**CROP)
    ref = Compose([
        TRANSFORMS.build(dict(type='LoadRandomResizedCrop', **CROP)),
        TRANSFORMS.build(dict(type='PackInputs'))
    ])
    for seed in range(3):
        np.random.seed(seed)
        item = ours(dict(img_path=path))
        assert tuple(item['inputs'].shape) == (3, 64, 64)  # a finished crop
        np.random.seed(seed)
        torch.testing.assert_close(item['inputs'],
                                   ref(dict(img_path=path))['inputs'])
    # an RGB JPEG stays encoded for the device
    assert ours(dict(img_path=files[0]))['inputs'].ndim == 1


def test_the_gpu_decode_config_trains_the_mae(repo_root, demo_root, tmp_path):
    """The shipped ``-gpu-decode`` config, run by mmengine's Runner as
    ``tools/train.py`` runs it (its pipeline, collate and top-level data
    preprocessor; the model shrunk to the demo's, 64 px): its batches hold
    the files' bytes, its crops equal the CPU loader's boxes within PSNR,
    and the loss falls."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    gpu = Config.fromfile(
        osp.join(repo_root, 'configs', 'ecdl',
                 'ecmae_vit-base-p16_8xb16-amp-coslr-20e_ecnbi-gpu-decode.py'))
    demo = Config.fromfile(
        osp.join(repo_root, 'configs', 'ecdl',
                 'ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py'))
    cfg = gpu.copy()
    cfg.model = demo.model  # tiny, 64 px, no stage-1 download
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline[0].scale = 64
    cfg.train_dataloader.update(
        batch_size=8,
        num_workers=0,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='CustomDataset',
            data_root=demo_root,
            with_label=False,
            pipeline=pipeline))
    cfg.optim_wrapper = dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3))
    cfg.param_scheduler = None
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.work_dir = str(tmp_path)
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    assert type(model.data_preprocessor).__name__ == \
        'EncodedCropDataPreprocessor'
    np.random.seed(0)
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    assert all(x.dim() == 1 for x in batch['inputs'])  # bytes only
    cpu_pipe = [dict(pipeline[0], type='LoadRandomResizedCrop'), pipeline[1]]
    np.random.seed(0)
    ref = next(
        iter(
            Runner.build_dataloader(
                dict(
                    cfg.train_dataloader,
                    collate_fn=dict(type='default_collate'),
                    dataset=dict(
                        cfg.train_dataloader.dataset, pipeline=cpu_pipe)))))
    assert [s.crop_bbox for s in batch['data_samples']
            ] == [s.crop_bbox for s in ref['data_samples']]
    inputs = model.data_preprocessor(batch, True)['inputs']
    ref_inputs = MODELS.build(demo.data_preprocessor)(ref, True)['inputs']
    assert inputs.shape == ref_inputs.shape == (8, 3, 64, 64)
    mse = float(((inputs - ref_inputs) * 57.0).pow(2).mean())
    assert 10 * np.log10(255.0**2 / mse) > 35  # reduced vs full decode
    losses = [
        float(model.train_step(batch, runner.optim_wrapper)['loss'])
        for _ in range(12)
    ]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]

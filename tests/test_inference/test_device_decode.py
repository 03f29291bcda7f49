# Copyright (c) ecdl_mm contributors. All rights reserved.
"""``decode='device'``: JPEGs decoded in one batched call on the model's
device (here the CPU: libjpeg-turbo through torchvision; nvJPEG on a GPU runs
the same code), then pre-processed as full-size frames."""
import glob
import io
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from helpers.stream import CONFIG, save_tiny_checkpoint
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS, TRANSFORMS
from PIL import Image

from ecdl_mm.apis import LesionInferencer, LesionInputError
from ecdl_mm.inference import DevicePreprocessor
from ecdl_mm.inference.device_decode import EncodedImageReader, device_decoder
from ecdl_mm.inference.frame_loader import LoadFrame

VIT_B = 'configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py'


def test_device_decode_equals_the_frame_pipeline(repo_root, demo_root):
    # the full-size decode + the loader's area reduction on the device give
    # the CPU frame pipeline's input (cv2 full decode, LoadFrame, resize) to
    # the device pre-processing's tolerance (<= 1 grey level)
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(repo_root, VIT_B))
    pipe = list(cfg.test_dataloader.dataset.pipeline)
    model_cfg = dict(cfg.model)
    model_cfg['backbone'] = dict(type='ResNet', depth=18)
    model_cfg['head'] = None
    model_cfg.pop('neck', None)
    model = MODELS.build(model_cfg)
    pre = model.data_preprocessor
    paths = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images', '*')))[:3]
    frame_pipe = Compose([LoadFrame(pipe[0])] +
                         [TRANSFORMS.build(t) for t in pipe[1:]])
    ref = pre(
        default_collate([frame_pipe(dict(img=cv2.imread(p))) for p in paths]),
        False)['inputs']
    dev = DevicePreprocessor.from_model(pipe, pre, 'cpu')
    decoder = device_decoder(pipe, model, dev, 'device')
    read = EncodedImageReader(TRANSFORMS.build(pipe[0]))
    items = [read(dict(img_path=p))['img'] for p in paths]
    assert all(isinstance(i, torch.Tensor) and i.dim() == 1 for i in items)
    got = decoder(items, [dict(img_path=p) for p in paths])
    assert got.shape == ref.shape
    levels = (got - ref).abs()
    if dev.std is not None:  # normalised values back in grey levels
        levels = levels * dev.std
    levels = levels.flatten()
    assert float(levels.max()) <= 1.0 + 1e-3
    assert float((levels < 1e-3).float().mean()) >= 0.999
    with pytest.raises(ValueError, match="decode='gpu' must be one of"):
        device_decoder(pipe, model, dev, 'gpu')
    with pytest.raises(ValueError, match="needs the pre-processing on the"):
        device_decoder(pipe, model, None, 'device')
    assert device_decoder(pipe, model, dev, 'cpu') is None
    # 'auto' (the default): on the device when the pre-processing runs on
    # a GPU, else the CPU decode
    assert dev.device.type == 'cpu'
    assert device_decoder(pipe, model, dev, 'auto') is None
    assert device_decoder(pipe, model, None, 'auto') is None


def test_auto_decodes_on_a_gpu(monkeypatch):
    from types import SimpleNamespace

    from ecdl_mm.inference import device_decode, preprocess
    made = []

    def from_model(cls, pipeline, data_preprocessor, device, frames):
        made.append((device, frames))
        return SimpleNamespace(device=device)

    monkeypatch.setattr(preprocess.DevicePreprocessor, 'from_model',
                        classmethod(from_model))
    gpu_pre = SimpleNamespace(device=torch.device('cuda'))
    model = SimpleNamespace(data_preprocessor=None)
    got = device_decode.device_decoder([{}], model, gpu_pre, 'auto')
    assert isinstance(got, device_decode.DeviceDecoder)
    assert made == [(torch.device('cuda'), True)]


def _jpeg(img, **kw):
    buf = io.BytesIO()
    img.save(buf, 'JPEG', **kw)
    return buf.getvalue()


def test_exif_and_other_formats_decode_on_the_cpu(tmp_path):
    rgb = Image.fromarray(
        np.random.default_rng(0).integers(0, 255, (40, 50, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    plain, rotated = _jpeg(rgb), _jpeg(rgb, exif=exif.tobytes())
    upright = Image.Exif()
    upright[0x0112] = 1  # an EXIF block that turns nothing
    upright[0x010F] = 'endoscope'
    tagged = _jpeg(rgb, exif=upright.tobytes())
    init_default_scope('mmpretrain')
    read = EncodedImageReader(
        TRANSFORMS.build(dict(type='LoadResizedImage', scale=32)))
    for name, data in (('a.jpg', plain), ('b.jpg', rotated), ('d.jpg',
                                                              tagged)):
        (tmp_path / name).write_bytes(data)
    rgb.save(tmp_path / 'c.png')
    got = {
        n: read(dict(img_path=str(tmp_path / n)))['img']
        for n in ('a.jpg', 'b.jpg', 'c.png', 'd.jpg')
    }
    assert isinstance(got['a.jpg'], torch.Tensor)
    # EXIF without a turn or flip: decoded on the device all the same
    assert isinstance(got['d.jpg'], torch.Tensor)
    # orientation applied by the CPU decoder (rotated: 50 x 40)
    assert isinstance(got['b.jpg'], np.ndarray)
    assert got['b.jpg'].shape == (50, 40, 3)
    assert isinstance(got['c.png'], np.ndarray)
    np.testing.assert_array_equal(got['c.png'], np.asarray(rgb)[..., ::-1])
    with pytest.raises(ValueError, match="color_type='grayscale'"):
        EncodedImageReader(
            TRANSFORMS.build(
                dict(type='LoadImageFromFile', color_type='grayscale')))


def test_lesion_inferencer_decoding_on_the_device(repo_root, demo_root,
                                                  tmp_path):
    ckpt = save_tiny_checkpoint(repo_root, str(tmp_path / 'tiny.pth'))
    config = osp.join(repo_root, CONFIG)
    cohort = tmp_path / 'cohort'
    lesions = sorted(glob.glob(osp.join(demo_root, '*', '*', 'Images')))[:6]
    for i, src in enumerate(lesions):
        cls = osp.basename(osp.dirname(osp.dirname(src)))
        shutil.copytree(src, cohort / cls / str(i) / 'Images')
    ref = LesionInferencer(
        config, ckpt, device='cpu')(
            str(cohort), batch_size=4)
    dev = LesionInferencer(
        config,
        ckpt,
        device='cpu',
        preprocess='device',
        decode='device',
        num_workers=2)
    got = dev(str(cohort), batch_size=4)
    assert [g['lesion_id'] for g in got] == [r['lesion_id'] for r in ref]
    for r, g in zip(ref, got):
        # full decode + area reduction vs libjpeg's scaled IDCT: a few grey
        # levels apart; the demo model's probabilities within 0.01
        np.testing.assert_allclose(
            g['pred_scores'], r['pred_scores'], rtol=0, atol=1e-2)
        assert g['pred_label'] == r['pred_label']
    # a file no decoder can read is named
    bad = cohort / 'adenomas' / 'bad' / 'Images'
    bad.mkdir(parents=True)
    (bad / 'x.jpg').write_bytes(b'\xff\xd8\xff\xe0 not a jpeg')
    with pytest.raises(LesionInputError, match=str(bad / 'x.jpg')):
        dev(str(bad.parent), batch_size=2)
    with pytest.raises(ValueError, match="decode='device' needs"):
        LesionInferencer(config, ckpt, device='cpu', decode='device')

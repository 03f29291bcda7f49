# Copyright (c) ecdl_mm contributors. All rights reserved.
"""One test-time view function: every inference path gives the same
probabilities on the same image, and a flip view calls the model once."""
import os.path as osp

import cv2
import numpy as np
import torch
from helpers.images import write_image
from helpers.stream import CLASSES, CONFIG, save_tiny_checkpoint
from mmengine.config import Config
from mmengine.dataset import default_collate

from ecdl_mm.apis import LesionInferencer
from ecdl_mm.datasets import ECNBIDataset
from ecdl_mm.evaluation.operating_point import OperatingPoint
from ecdl_mm.experiments.split_predictions import predict_views
from ecdl_mm.inference import TestTimeView, ViewTTAModel, view_probs
from ecdl_mm.live import StreamInferencer


def test_flip_view_calls_the_model_once_on_image_and_mirror():
    calls = []

    def probs_fn(x):
        calls.append(x.clone())
        # a function that is not mirror-symmetric, one row per image
        return torch.stack([x[:, 0, 0, 0], x[:, 0, 0, -1]], 1).softmax(1)

    x = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).view(2, 3, 2, 4)
    got = view_probs(probs_fn, x, flip=True)
    assert len(calls) == 1 and calls[0].shape[0] == 4
    torch.testing.assert_close(calls[0][2:], x.flip(-1))
    # by hand: the mean of the image's and its mirror's probabilities
    a = torch.stack([x[:, 0, 0, 0], x[:, 0, 0, -1]], 1).softmax(1)
    b = torch.stack([x[:, 0, 0, -1], x[:, 0, 0, 0]], 1).softmax(1)
    torch.testing.assert_close(got, (a + b) / 2)
    torch.testing.assert_close(view_probs(probs_fn, x), a)
    view = TestTimeView.of(
        OperatingPoint(
            classes=['a'],
            view=dict(name='center_crop', crop_ratio=0.5, flip=True)))
    assert view == TestTimeView(0.5, True)
    assert view.pipeline([dict(type='LoadImageFromFile')])[1] == dict(
        type='CenterCropRatio', ratio=0.5)


def test_every_inference_path_gives_the_same_probabilities(
        repo_root, tmp_path):
    view = dict(name='center_crop', crop_ratio=0.875, flip=True)
    ckpt = save_tiny_checkpoint(repo_root, str(tmp_path / 'tiny.pth'))
    config = osp.join(repo_root, CONFIG)
    cohort = str(tmp_path / 'cohort')
    image = f'{cohort}/adenomas/1/Images/a.png'  # lossless: one decode
    write_image(image, (150, 110), 'RGB', 0)
    op = OperatingPoint(classes=list(CLASSES), view=view)
    op_path = op.save(str(tmp_path / 'op.json'))
    cfg = Config.fromfile(config)

    # 1. LesionInferencer (tools/infer.py)
    lesion = LesionInferencer(
        config, ckpt, device='cpu', operating_point=op_path)
    got = {'lesion': lesion(cohort)[0]['images'][0]['pred_scores']}
    # 2. StreamInferencer (tools/realtime.py, LiveSession)
    stream = StreamInferencer(
        config, ckpt, device='cpu', operating_point=op_path)
    got['stream'] = stream.predict_probs(stream.collate([cv2.imread(image)
                                                         ]))[0]
    # 3. split_predictions (fit_operating_point.py)
    ds_cfg = dict(
        type='ECNBIDataset',
        data_root=cohort,
        pipeline=cfg.test_dataloader.dataset.pipeline)
    out = predict_views(cfg, ckpt, ds_cfg, crop_ratios=(view['crop_ratio'], ))
    key = [k for k, (v, _) in out['views'].items() if v['flip']]
    got['split_predictions'] = out['views'][key[0]][1][0]
    # 4. tools/test.py --tta (ViewTTAModel around the classifier)
    tta = ViewTTAModel(module=lesion.model)
    ds = ECNBIDataset(
        cohort,
        pipeline=op.test_pipeline(cfg.test_dataloader.dataset.pipeline))
    with torch.no_grad():
        got['test.py'] = tta.test_step(default_collate([ds[0]]))[0].pred_score
    # 5. tools/test.py --tta --backend torchscript (the traced classifier
    # through the same view)
    traced = ViewTTAModel(module=lesion.model, backend='torchscript')
    with torch.no_grad():
        got['test.py torchscript'] = traced.test_step(
            default_collate([ds[0]]))[0].pred_score
    assert traced._backend.name == 'torchscript'
    # an independent reference: mmpretrain's predict on the image and on
    # its mirror, two calls, averaged by hand
    data = lesion.model.data_preprocessor(default_collate([ds[0]]), False)
    with torch.no_grad():
        a = lesion.model(data['inputs'], mode='predict')[0].pred_score
        b = lesion.model(data['inputs'].flip(-1), mode='predict')[0].pred_score
    ref = ((a + b) / 2).numpy()
    assert not np.allclose(a.numpy(), b.numpy(), atol=1e-4)  # mirror differs
    for name, probs in got.items():
        np.testing.assert_allclose(
            np.asarray(probs, np.float64),
            ref,
            rtol=0,
            atol=1e-6,
            err_msg=name)

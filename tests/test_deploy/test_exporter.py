# Copyright (c) ecdl_mm contributors. All rights reserved.
import json

import numpy as np
import pytest
import torch
from helpers.deploy_models import randomise_qv_bias, tiny_deploy_cfg

from ecdl_mm import deploy
from ecdl_mm.utils import set_inference_threads


@pytest.fixture(scope='module')
def tiny_model(demo_root):
    torch.manual_seed(0)
    cfg = tiny_deploy_cfg(demo_root)
    model, cfg = deploy.build_model(cfg, None)
    randomise_qv_bias(model)
    return model, cfg


def _bgr_batch(n=3, size=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=gen).float()


def test_wrapper_matches_mmpretrain_predict(tiny_model):
    model, _ = tiny_model
    x = _bgr_batch()
    with torch.inference_mode():
        probs = deploy.ExportWrapper(model)(x)
        data = model.data_preprocessor(dict(inputs=list(x.to(torch.uint8))))
        samples = model(data['inputs'], mode='predict')
    ref = torch.stack([s.pred_score for s in samples])
    torch.testing.assert_close(probs, ref, atol=1e-5, rtol=1e-4)


def test_fuse_qv_bias_keeps_the_function(tiny_model):
    import copy
    model, _ = tiny_model
    wrapper = deploy.ExportWrapper(model)
    fused = copy.deepcopy(wrapper)
    assert deploy.fuse_qv_bias(fused) == 2
    names = [n for n, _ in fused.named_parameters()]
    assert not any(n.endswith(('q_bias', 'v_bias')) for n in names)
    # The caller's model is untouched.
    assert any(n.endswith('q_bias') for n, _ in wrapper.named_parameters())
    x = _bgr_batch()
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), wrapper(x), atol=1e-5, rtol=0)


def test_export_torchscript_onnx_int8(tiny_model, tmp_path):
    model, cfg = tiny_model
    info = deploy.export(model, str(tmp_path), (32, 32), cfg=cfg)
    assert set(info['files']) == {
        'torchscript_fp32', 'torchscript_int8', 'onnx_fp32'
    }
    assert info['qv_bias_layers_fused'] == 2
    meta = json.loads((tmp_path / 'deploy.json').read_text())
    assert meta['input']['channel_order'] == 'BGR'
    assert meta['input']['shape'] == ['B', 3, 32, 32]
    assert meta['test_pipeline'][0]['type'] == 'LoadResizedImage'

    x = _bgr_batch(5, seed=3)  # a batch size not used when tracing
    with torch.inference_mode():
        ref = deploy.ExportWrapper(model)(x)
        ts = torch.jit.load(info['files']['torchscript_fp32'])(x)
        q = torch.jit.load(info['files']['torchscript_int8'])(x)
    torch.testing.assert_close(ts, ref, atol=1e-5, rtol=1e-4)
    assert torch.allclose(q.sum(-1), torch.ones(5), atol=1e-5)
    # int8 weights: close, not equal.
    err = (q - ref).abs().max().item()
    assert 0 < err < 0.05, err
    assert info['max_abs_diff']['torchscript_int8'] < 0.05
    # Every file was checked against eager at a second batch size and a
    # second image size (ECViT traces its position table for any size).
    checked = meta['trace_check']['max_abs_diff']
    assert set(checked) == set(info['files'])
    for diffs in checked.values():
        assert set(diffs) == {'3 x 3 x 32 x 32', '2 x 3 x 64 x 64'}
        assert max(diffs.values()) <= meta['trace_check']['atol'] == 1e-4

    import onnx
    from onnx.reference import ReferenceEvaluator
    session = ReferenceEvaluator(onnx.load(info['files']['onnx_fp32']))
    (onnx_out, ) = session.run(None, {'images': x.numpy()})
    np.testing.assert_allclose(onnx_out, ref.numpy(), atol=1e-4, rtol=1e-3)


def test_int8_quantises_linears_but_not_head(tiny_model):
    import copy
    model, _ = tiny_model
    wrapper = copy.deepcopy(deploy.ExportWrapper(model))
    deploy.fuse_qv_bias(wrapper)
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in wrapper.modules())
    q = deploy.quantize_int8(wrapper)
    modules = dict(q.named_modules())
    assert type(modules['model.head.fc']) is torch.nn.Linear
    quantised = [
        n for n, m in modules.items()
        if type(m).__module__.startswith('torch.ao.nn.quantized.dynamic')
    ]
    # qkv, proj, fc1, fc2 per layer: FFN's mmcv Linear subclass included
    assert len(quantised) == n_linear - 1 == 2 * 4, quantised
    assert any('ffn' in n for n in quantised)
    assert not any(
        isinstance(m, torch.nn.Linear) and not n.startswith('model.head')
        for n, m in modules.items())


def test_evaluate_reports_agreement():
    torch.manual_seed(0)
    lesions = [('a', 0, _bgr_batch(2, seed=1)), ('b', 1, _bgr_batch(1,
                                                                    seed=2))]

    def ref(x):
        return torch.softmax(x.mean((2, 3)), -1)

    def flipped(x):  # disagrees everywhere
        return torch.softmax(-x.mean((2, 3)), -1)

    report = deploy.evaluate(dict(ref=ref, other=flipped), lesions, 1)
    assert report['images'] == 3 and report['lesions'] == 2
    r = report['variants']
    assert r['ref']['image_agreement'] == 1.0
    assert r['ref']['lesion_agreement'] == 1.0
    # independent computation of the flipped variant's figures
    imgs = torch.cat([x for _, _, x in lesions])
    assert r['other']['image_agreement'] == float(
        (ref(imgs).argmax(-1) == flipped(imgs).argmax(-1)).float().mean())
    lesion_ref = [ref(x).mean(0).argmax().item() for _, _, x in lesions]
    lesion_other = [flipped(x).mean(0).argmax().item() for _, _, x in lesions]
    assert r['other']['lesion_agreement'] == np.mean(
        np.array(lesion_ref) == np.array(lesion_other))
    assert r['ref']['lesion_accuracy'] == np.mean(
        np.array(lesion_ref) == np.array([0, 1]))


@pytest.mark.parametrize('kwargs,match', [
    (dict(formats=('tflite', )), "format 'tflite'"),
])
def test_export_rejects_bad_format(tiny_model, tmp_path, kwargs, match):
    model, _ = tiny_model
    with pytest.raises(ValueError, match=match):
        deploy.export(model, str(tmp_path), (32, 32), **kwargs)


def test_set_threads_rejects_zero():
    with pytest.raises(ValueError, match='threads=0'):
        set_inference_threads(0)


# ----------------------------------------------------------------------------
# Models whose trace is wrong: a Python branch on the input's size or batch is
# frozen into the trace. The export must fail loudly, naming the input.
class _BranchOnInput(torch.nn.Module):

    def __init__(self, on):
        super().__init__()
        self.on = on
        self.fc = torch.nn.Linear(3, 3)  # something to quantise

    def forward(self, x):
        feat = self.fc(x.mean((2, 3)))
        if self.on == 'size':
            frozen = x.shape[-1] == 32  # traced at 32 px
        else:
            frozen = x.shape[0] == 2  # traced on a batch of 2
        if frozen:
            feat = feat * 2
        return (feat, )


@pytest.fixture(params=['size', 'batch'])
def branchy_model(request):
    from mmpretrain.registry import MODELS
    MODELS.register_module(
        name='_ExportTestBranchOnInput', module=_BranchOnInput, force=True)
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='_ExportTestBranchOnInput', on=request.param),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=3),
            data_preprocessor=dict(
                num_classes=3, mean=[128.] * 3, std=[64.] * 3, to_rgb=True)))
    bad_shape = '(2, 3, 64, 64)' if request.param == 'size' else \
        '(3, 3, 32, 32)'
    return model.eval(), bad_shape


@pytest.mark.parametrize('fmt,name', [('torchscript', 'model_fp32.ts'),
                                      ('onnx', 'model_fp32.onnx')])
def test_wrong_trace_fails_loudly_naming_the_input(branchy_model, tmp_path,
                                                   fmt, name):
    model, bad_shape = branchy_model
    with pytest.warns(torch.jit.TracerWarning):  # shown, not silenced
        with pytest.raises(deploy.TraceMismatchError) as err:
            deploy.export(
                model, str(tmp_path), (32, 32), formats=(fmt, ), int8=False)
    msg = str(err.value)
    assert f'{name} (traced on input shape (2, 3, 32, 32)) on input shape ' \
        f'{bad_shape} differs from the eager model' in msg
    # The wrong file and no deploy.json are left behind.
    assert not (tmp_path / name).exists()
    assert not (tmp_path / 'deploy.json').exists()


def test_check_size_must_suit_the_eager_model(tiny_model, tmp_path):
    model, _ = tiny_model
    with pytest.raises(
            ValueError, match=r'check input shape \(2, 3, 36, 36\)'):
        deploy.export(model, str(tmp_path), (32, 32), check_size=(36, 36))


def test_check_exported_names_a_failing_input():
    x = [torch.zeros(3, 3, 8, 8), torch.zeros(2, 3, 16, 16)]

    def eager(t):
        return torch.zeros(t.shape[0], 3)

    def frozen(t):  # works at the traced size only
        if t.shape[-1] != 8:
            raise RuntimeError('The size of tensor a (4) must match b (1)')
        return eager(t)

    assert deploy.check_exported('f.ts', frozen, eager, x[:1], 1e-4,
                                 (2, 3, 8, 8)) == {
                                     '3 x 3 x 8 x 8': 0.0
                                 }
    with pytest.raises(
            deploy.TraceMismatchError,
            match=r'f\.ts \(traced on input shape \(2, 3, 8, 8\)\) on input '
            r'shape \(2, 3, 16, 16\) fails: RuntimeError: The size of tensor'):
        deploy.check_exported('f.ts', frozen, eager, x, 1e-4, (2, 3, 8, 8))

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Backend and precision selection: GPU-only choices on a CPU fail with one
line naming the option; the load-time precision check."""
import os.path as osp

import pytest
import torch
from helpers import TINY_CONFIG, save_tiny_checkpoint
from helpers.cli_checks import assert_one_line

from ecdl_mm.apis import LesionInferencer
from ecdl_mm.deploy import GPUOnlyError, TraceMismatchError, load_backend
from ecdl_mm.deploy.cuda_graph import check_precision
from ecdl_mm.live import StreamInferencer


class _Tiny(torch.nn.Module):
    """``model(x, mode='tensor')`` as an mmpretrain classifier."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 3)
        self.data_preprocessor = torch.nn.Identity()

    def forward(self, x, mode='tensor'):
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize('kwargs,match', [
    (dict(backend='cuda-graph'), '--backend cuda-graph needs a CUDA device'),
    (dict(backend='eager',
          precision='fp16'), '--precision fp16 needs a CUDA device'),
    (dict(backend='cuda-graph', precision='bf16'), '--backend cuda-graph'),
])
def test_gpu_only_choices_on_the_cpu(kwargs, match):
    with pytest.raises(GPUOnlyError, match=match) as err:
        load_backend(_Tiny(), example_input=torch.zeros(1, 3, 8, 8), **kwargs)
    assert '\n' not in str(err.value)
    with pytest.raises(ValueError, match="precision='fp8' must be one of"):
        load_backend(
            _Tiny(), 'eager', torch.zeros(1, 3, 8, 8), precision='fp8')
    # fp32 stays the CPU default
    fn = load_backend(_Tiny(), 'eager', torch.zeros(1, 3, 8, 8))
    assert fn.precision == 'fp32'


def test_precision_check_against_fp32():
    model = _Tiny()
    # a clear top class (class 0) on every input: the randomly initialised
    # layer left some runs with no margin over 2 * atol, and then no top
    # class to compare (the test depended on the global RNG's state)
    with torch.no_grad():
        model.fc.weight.mul_(0.1)
        model.fc.bias.copy_(torch.tensor([4., 0., -4.]))

    def eager(x):
        return model(x).softmax(-1)

    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    ref = eager(x)
    close = check_precision('b', lambda x: eager(x) + 1e-3, eager, x, 'fp16')
    assert close == pytest.approx(1e-3, rel=1e-3)
    with pytest.raises(TraceMismatchError, match='max |prob diff| 0.1'):
        check_precision('b', lambda x: eager(x) + 0.1, eager, x, 'fp16')
    # another top class where fp32 separates the classes clearly
    swapped = ref.flip(1)
    with pytest.raises(TraceMismatchError, match='top classes'):
        check_precision('b', lambda x: swapped, eager, x, 'bf16')


def test_inferencers_and_tools_refuse_gpu_options_on_cpu(
        repo_root, run_script, tmp_path):
    ckpt = str(tmp_path / 'tiny.pth')
    save_tiny_checkpoint(repo_root, ckpt)
    config = osp.join(repo_root, TINY_CONFIG)
    with pytest.raises(GPUOnlyError, match='--backend cuda-graph'):
        LesionInferencer(config, ckpt, device='cpu', backend='cuda-graph')
    with pytest.raises(GPUOnlyError, match='--precision bf16'):
        StreamInferencer(config, ckpt, device='cpu', precision='bf16')
    img = tmp_path / 'x.png'
    img.write_bytes(b'')  # never read: the option fails first
    proc = run_script([
        'tools/infer.py', TINY_CONFIG, ckpt, img, '--device', 'cpu',
        '--backend', 'cuda-graph'
    ],
                      check=False)
    assert_one_line(
        proc, 'infer.py: error: --backend cuda-graph needs a '
        'CUDA device (--device cuda)')
    proc = run_script([
        'tools/realtime.py', TINY_CONFIG, ckpt, '--source', img, '--precision',
        'fp16'
    ],
                      check=False)
    assert_one_line(
        proc, 'realtime.py: error: --precision fp16 needs a '
        'CUDA device')
    proc = run_script([
        'tools/test.py', TINY_CONFIG, ckpt, '--backend', 'cuda-graph',
        '--work-dir', tmp_path / 'wd'
    ],
                      check=False)
    assert_one_line(
        proc, 'test.py: error: --backend cuda-graph needs a CUDA device')
    assert not (tmp_path / 'wd').exists()  # nothing ran

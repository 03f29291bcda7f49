# Copyright (c) ecdl_mm contributors. All rights reserved.
import contextlib
import warnings


@contextlib.contextmanager
def quiet_deprecations():
    """Silence the deprecation notices of torch.jit / torch.ao / legacy ONNX.

    They are the tools that work offline here (``torch.export`` based ONNX
    needs ``onnxscript``, ``torchao`` is not installed); see the README.
    ``TracerWarning`` (a trace may be wrong) stays visible.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=FutureWarning)
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', message='.*quantize_per_tensor.*')
        yield

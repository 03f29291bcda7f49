# Copyright (c) ecdl_mm contributors. All rights reserved.
import os
from collections import OrderedDict
from typing import Callable, Sequence

import torch
import torch.nn as nn

from ._warnings import quiet_deprecations


class TraceMismatchError(RuntimeError):
    """An exported file computes something else than the eager model."""


def trace(module: nn.Module, example: torch.Tensor):
    """TorchScript by tracing ``module`` on ``example``.

    torch's own ``check_trace`` only re-runs the example input; the real
    check is :func:`check_exported`, on other shapes.
    """
    with quiet_deprecations(), torch.no_grad():
        return torch.jit.trace(module, example, check_trace=False)


def check_exported(name: str, run: Callable, eager: Callable,
                   inputs: Sequence[torch.Tensor], atol: float,
                   traced_shape: tuple) -> dict:
    """Compare an exported model with the eager one on ``inputs``.

    Args:
        name (str): The exported file, for messages.
        run (callable): The exported model: images -> probabilities.
        eager (callable): The eager model it was made from.
        inputs (list[torch.Tensor]): Check inputs, shapes other than the
            traced one.
        atol (float): Largest allowed absolute probability difference.
        traced_shape (tuple): The shape the file was traced on.

    Returns:
        dict: ``{'B x 3 x H x W': max abs difference}`` per input.

    Raises:
        TraceMismatchError: If the exported model fails on an input or
            differs from the eager model by more than ``atol``.
    """
    diffs = OrderedDict()
    for x in inputs:
        shape = tuple(x.shape)
        where = (f'{name} (traced on input shape {traced_shape}) on input '
                 f'shape {shape}')
        hint = ('The trace froze a size or branch of this input (see the '
                'TracerWarnings): fix the model code')
        hint += (', or, if the model is meant for one image size only, '
                 'export with --check-size H W equal to the export size.'
                 if shape[2:] != tuple(traced_shape[2:]) else '.')
        with torch.inference_mode():
            expected = eager(x)
        try:
            with torch.inference_mode():
                got = torch.as_tensor(run(x))
        except Exception as err:
            # TorchScript puts its traceback first, the error last.
            last = (str(err).strip().splitlines() or [''])[-1]
            raise TraceMismatchError(
                f'{where} fails: {type(err).__name__}: {last} {hint}') from err
        if got.shape != expected.shape:
            raise TraceMismatchError(
                f'{where} returns shape {tuple(got.shape)}, the eager model '
                f'{tuple(expected.shape)}.')
        diff = float((got - expected).abs().max())
        if not diff <= atol:  # NaN fails too
            raise TraceMismatchError(
                f'{where} differs from the eager model: max |prob diff| '
                f'{diff:.3g} > atol {atol:g}. {hint}')
        diffs[' x '.join(map(str, shape))] = diff
    return diffs


def checked_or_removed(path: str, run, eager, inputs, atol,
                       traced_shape) -> dict:
    """:func:`check_exported`; a file that fails is deleted."""
    try:
        return check_exported(path, run, eager, inputs, atol, traced_shape)
    except TraceMismatchError:
        os.remove(path)
        raise

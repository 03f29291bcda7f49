# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Run a ``tools/`` script in the test's own process, as ``python SCRIPT
ARGS`` would, and undo what such a run leaves behind (issue 27).

A tool in a subprocess pays 4-5 s of Python, torch, mmengine and mmpretrain
imports before any work; in-process it pays none. What a fresh interpreter
would give the tool, and what the tool changes globally, is handled here:

* ``sys.argv`` is the command line; the script's folder and
  ``tests/helpers`` (for configs that custom-import test-only components)
  are first on ``sys.path``, as ``python SCRIPT`` with ``run_tool``'s
  ``PYTHONPATH`` would have them;
* mmengine's managed instances (``MMLogger``, ``MessageHub``,
  ``Visualizer``, ``DefaultScope``...) start empty, as in a new process, and
  the test's own come back afterwards (the run's loggers are closed);
* the working directory, environment variables, signal handlers, the root
  logger, torch's intra-op threads, determinism flags and random states of
  torch / numpy / ``random``, OpenCV's threads and ``warnings.showwarning``
  are restored;
* an exception that escapes the script is printed as Python prints it
  (traceback on stderr) with exit status 1; ``SystemExit`` gives its code.

Tests of the command line itself (a README command as typed, signals and
kills, ``torchrun``, the installed entry point) keep ``run_tool``'s
subprocess.
"""
import logging
import os
import os.path as osp
import random
import runpy
import signal
import sys
import traceback
import types

import numpy as np
import torch

HELPERS = osp.dirname(osp.abspath(__file__))
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _managed_classes():
    """Every class with mmengine's ``ManagerMixin`` instance registry."""
    from mmengine.utils import ManagerMixin
    seen, todo = [], [ManagerMixin]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                todo.append(sub)
    return [c for c in seen if '_instance_dict' in vars(c)]


def _close_logger(logger):
    for handler in list(getattr(logger, 'handlers', ())):
        handler.close()
        logger.removeHandler(handler)


class _Saved:
    """The process-wide state a tool run may change, saved on entry and
    put back by :meth:`restore`."""

    def __init__(self):
        import cv2
        self.cwd = os.getcwd()
        self.environ = dict(os.environ)
        self.argv = sys.argv
        self.path = list(sys.path)
        self.signals = {s: signal.getsignal(s) for s in _SIGNALS}
        root = logging.getLogger()
        self.root = (list(root.handlers), root.level)
        self.threads = torch.get_num_threads()
        self.deterministic = torch.are_deterministic_algorithms_enabled()
        self.cudnn = (torch.backends.cudnn.benchmark,
                      torch.backends.cudnn.deterministic)
        self.rng = (torch.get_rng_state(), np.random.get_state(),
                    random.getstate())
        self.cv2_threads = cv2.getNumThreads()
        import warnings
        self.showwarning = warnings.showwarning
        self.managed = {}
        for cls in _managed_classes():
            self.managed[cls] = dict(cls._instance_dict)
            cls._instance_dict.clear()

    def restore(self):
        import warnings

        import cv2
        from mmengine.logging import MMLogger
        for cls, instances in self.managed.items():
            for name, inst in list(cls._instance_dict.items()):
                if instances.get(name) is not inst and isinstance(
                        inst, MMLogger):
                    _close_logger(inst)
            cls._instance_dict.clear()
            cls._instance_dict.update(instances)
        warnings.showwarning = self.showwarning
        cv2.setNumThreads(self.cv2_threads)
        torch.set_rng_state(self.rng[0])
        np.random.set_state(self.rng[1])
        random.setstate(self.rng[2])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = \
            self.cudnn
        torch.use_deterministic_algorithms(self.deterministic)
        torch.set_num_threads(self.threads)
        root = logging.getLogger()
        for handler in root.handlers[:]:
            if handler not in self.root[0]:
                root.removeHandler(handler)
        root.setLevel(self.root[1])
        for sig, handler in self.signals.items():
            signal.signal(sig, handler)
        sys.path[:] = self.path
        sys.argv = self.argv
        os.environ.clear()
        os.environ.update(self.environ)
        os.chdir(self.cwd)


def run_in_process(script, args, capfd, cwd=None, env=None):
    """Run ``script`` (a path) with ``args`` here; its result.

    Args:
        script (str): The script's path (absolute, or relative to ``cwd``).
        args (list): Its command-line arguments (``str`` is applied).
        capfd: pytest's fixture; what the script writes to file descriptors
            1 and 2 is the result's ``stdout`` / ``stderr``.
        cwd (str, optional): The working directory of the run.
        env (dict, optional): Environment variables set for the run.

    Returns:
        SimpleNamespace: ``returncode``, ``stdout``, ``stderr`` as
        ``subprocess.run`` gives them.
    """
    script = osp.abspath(script if cwd is None else osp.join(cwd, script))
    saved = _Saved()
    capfd.readouterr()
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        os.environ.update({k: str(v) for k, v in (env or {}).items()})
        sys.argv = [script] + [str(a) for a in args]
        sys.path[:0] = [osp.dirname(script), HELPERS]
        try:
            runpy.run_path(script, run_name='__main__')
        except SystemExit as exit_:
            if exit_.code is None or isinstance(exit_.code, int):
                code = exit_.code or 0
            else:  # sys.exit('message'): printed, status 1
                print(exit_.code, file=sys.stderr)
                code = 1
        except Exception:  # noqa: B902  as the interpreter reports it
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        saved.restore()
    out = capfd.readouterr()
    return types.SimpleNamespace(
        returncode=code, stdout=out.out, stderr=out.err)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The ``atomic_local`` file backend: checkpoints are never half-written.

Checkpoints are written through it (see
``configs/_base_/default_runtime.py``): data goes to a temporary file in the
same folder which is fsynced and renamed over the target, so a kill during a
save never leaves a truncated file where resume would look for one.
"""
import os
import os.path as osp
import tempfile

from mmengine.fileio.backends import LocalBackend, register_backend


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """A :class:`LocalBackend` whose writes are atomic (temp file + rename)."""

    def _atomic_write(self, data: bytes, filepath) -> None:
        filepath = str(filepath)
        folder = osp.dirname(osp.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=folder, prefix=f'.{osp.basename(filepath)}.', suffix='.tmp')
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise

    def put(self, obj: bytes, filepath) -> None:
        self._atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        self._atomic_write(obj.encode(encoding), filepath)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""``events.jsonl`` of the live CAD: thread-safe JSON lines, flushed per
line."""
import json
import os
import os.path as osp
import threading
from typing import Optional

from ..utils.io import json_default


class JsonlWriter:
    """Thread-safe JSON lines, flushed per line (a kill loses at most the
    line being written)."""

    def __init__(self, path: Optional[str]) -> None:
        self._f = None
        self._lock = threading.Lock()
        if path:
            if osp.dirname(path):
                os.makedirs(osp.dirname(path), exist_ok=True)
            self._f = open(path, 'w', encoding='utf-8')

    def write(self, record: dict) -> None:
        if self._f is None:
            return
        line = json.dumps(record, allow_nan=False, default=_jsonable)
        with self._lock:
            self._f.write(line + '\n')
            self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


_jsonable = json_default  # its old name (re-exported by live_session)

# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The hand-over between the live CAD's reading loop and its model thread:
a queue of one where the newest item wins."""
import threading


class NewestSlot:
    """A bounded queue of one where the newest item wins.

    :meth:`put` never blocks: it replaces the waiting item and returns it
    (the item the model will never see), so the producer keeps the source's
    pace whatever the consumer's speed.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item = None
        self._closed = False
        self.busy = False

    def put(self, item):
        with self._cond:
            old, self._item = self._item, item
            self._cond.notify()
            return old

    def get(self, timeout: float = 0.1):
        """The waiting item (marks the consumer busy), or None after
        ``timeout`` or once closed and empty."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            self.busy = item is not None
            return item

    def done(self) -> None:
        with self._cond:
            self.busy = False
            self._cond.notify_all()

    def idle(self) -> bool:
        with self._cond:
            return self._item is None and not self.busy

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no item waits and the consumer is not busy; False
        after ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._item is None and not self.busy, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

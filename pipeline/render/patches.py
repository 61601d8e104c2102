"""Changes to a library's code for the length of a block (the PDF's
speedups and workarounds, pipeline/render/speedups.py and workarounds.py).

``Patch(apply, undo)`` is a context manager factory: the first block to
enter calls ``apply()``, the last to leave calls ``undo()``; nested blocks
and blocks in several threads are counted, so the library's own code comes
back exactly once, after the last.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable


class Patch:
    def __init__(self, apply: Callable[[], None], undo: Callable[[], None]):
        self._apply, self._undo = apply, undo
        self._depth = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self):
        with self._lock:
            if self._depth == 0:
                self._apply()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._undo()

"""Ctrl-C and SIGTERM end a build cleanly.

The command line installs ``handler`` for SIGINT and SIGTERM: either signal
raises ``Interrupted`` (a ``KeyboardInterrupt``) in the running build, so
every ``finally`` runs and the staging folder is removed, and the previous
outputs stay as they were. Inside ``uninterrupted()`` (swapping the new
outputs into place, removing the staging folder) a signal is held back and
raised when the block ends, so a half-done swap cannot happen.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_held: list[int] = []
_depth = 0


class Interrupted(KeyboardInterrupt):
    """The build was stopped by a signal (SIGINT or SIGTERM)."""

    def __init__(self, signum: int, note: str = ""):
        self.signum = signum
        self.note = note  # what had been done when the signal was acted on, if not "nothing"
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum  # what a shell reports for a process a signal ended


def handler(signum, frame) -> None:
    if _depth:
        _held.append(signum)
        return
    raise Interrupted(signum)


def install():
    """Route SIGINT and SIGTERM to ``handler``; returns a function that puts
    the previous handlers back. Outside the main thread (where Python does
    not allow handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)

    return restore


@contextlib.contextmanager
def uninterrupted(done: str = ""):
    """Hold back SIGINT/SIGTERM until the block is done (when ``install``
    was called; otherwise Python's defaults apply). A signal that arrived
    meanwhile is raised at the end as ``Interrupted`` with ``note=done``:
    what the finished block means for the user."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _held:
            signum = _held[0]
            _held.clear()
            raise Interrupted(signum, done)

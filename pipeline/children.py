"""No process a build starts outlives it.

A build starts other processes: the forked PDF branch
(``pipeline.schedule``) and the validators' JVMs (EPUBCheck, the Nu Html
Checker). Two things end them with the build, however the build ends:

* ``die_with_parent()``: the kernel sends SIGKILL to a child when the
  thread that started it ends (Linux's ``PR_SET_PDEATHSIG``, through
  ``prctl``), so a build killed outright (SIGKILL, the OOM killer) takes its
  children with it. Every process started with ``popen()`` asks for it
  before it runs; the PDF branch asks for it first thing after the fork.
* ``Group``: the processes one build started (``popen()`` registers each in
  the group active in its thread); a build that fails, or is stopped by
  SIGINT or SIGTERM, ends the group's processes that still run before it
  returns, instead of leaving them to finish work nobody will read.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import threading
import weakref

PR_SET_PDEATHSIG = 1


def _prctl():
    """libc's prctl, looked up once here (a forked child must not load a
    library before it calls it), or None where there is none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    return fn


_PRCTL = _prctl()


def die_with_parent(parent: int | None = None) -> None:
    """In a child process: be killed when the thread that started this
    process ends. ``parent`` is the pid the child expects as its parent:
    if that process ended before the request was made, end now."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def _preexec(parent: int):
    return lambda: die_with_parent(parent)


_local = threading.local()
_live: "weakref.WeakSet[subprocess.Popen]" = weakref.WeakSet()
_live_lock = threading.Lock()


class Group:
    """The processes one build started, to be ended together."""

    def __init__(self):
        self._procs: list = []  # subprocess.Popen or multiprocessing.Process
        self._lock = threading.Lock()
        self._ended = False

    def add(self, proc) -> None:
        with self._lock:
            self._procs.append(proc)
            ended = self._ended
        if ended:  # started by a thread that had not heard yet
            _end(proc)

    @contextlib.contextmanager
    def active(self):
        """Processes ``popen()`` starts in this thread belong to the group."""
        previous = getattr(_local, "group", None)
        _local.group = self
        try:
            yield self
        finally:
            _local.group = previous

    def end(self) -> None:
        """End every process of the group that still runs, and reap it."""
        with self._lock:
            self._ended = True
            procs = list(self._procs)
        for proc in procs:
            _end(proc)


def _end(proc) -> None:
    with contextlib.suppress(OSError, ValueError, AssertionError):
        if isinstance(proc, subprocess.Popen):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        else:  # multiprocessing.Process
            if proc.is_alive():
                proc.kill()
            proc.join()


def popen(args, **kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` for a process that ends with the build: killed
    by the kernel when the thread that started it ends, and a member of the
    group active in this thread (``Group.active``)."""
    proc = subprocess.Popen(args, preexec_fn=_preexec(os.getpid()), **kwargs)
    with _live_lock:
        _live.add(proc)
    group = getattr(_local, "group", None)
    if group is not None:
        group.add(proc)
    return proc


def end_all() -> None:
    """End every process ``popen()`` started that still runs (the command
    line calls it on the way out, whatever happened)."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        _end(proc)

"""The machine's cores, shared out during a build.

The Java validators of the check start early (as soon as their file is
written) while the PDF is still laid out in a process of its own; a JVM runs
several threads, so two of them beside the layout would take its core.
``SLOTS`` lets as many validators run at once as there are cores, less the
cores a build keeps for other work: ``pipeline.schedule`` keeps one for the
PDF branch while it runs.
"""

from __future__ import annotations

import os
import threading


class Slots:
    """How many validator JVMs may run at once: one a core, less the cores
    kept for other work (``keep``). A build keeps a core for the PDF's layout
    while it runs, so that the validators, which start early, queue behind
    each other instead of taking the layout's core (a JVM starts several
    threads); once the PDF is done they have every core."""

    def __init__(self, cores: int | None = None):
        self.cores = cores or os.cpu_count() or 1
        self.kept = 0
        self.used = 0
        self._changed = threading.Condition()

    @property
    def capacity(self) -> int:
        return max(1, self.cores - self.kept)

    def keep(self, n: int = 1) -> None:
        with self._changed:
            self.kept += n

    def give_back(self, n: int = 1) -> None:
        with self._changed:
            self.kept = max(0, self.kept - n)
            self._changed.notify_all()

    def __enter__(self):
        with self._changed:
            while self.used >= self.capacity:
                self._changed.wait()
            self.used += 1
        return self

    def __exit__(self, *exc) -> None:
        with self._changed:
            self.used -= 1
            self._changed.notify_all()


#: the process's validator slots (pipeline.schedule keeps one for the PDF)
SLOTS = Slots()

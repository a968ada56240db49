"""The main loop's wake-up: the queue of change hints, with a pipe that the loop waits on.

A signal handler must not take a lock: if the signal lands while the main thread holds
the queue's lock (inside ``get`` or ``put``), putting to the queue from the handler
never returns. ``poke`` writes one byte to a non-blocking pipe and takes no lock, so a
handler sets its flags and pokes; watcher threads ``put`` hints, which pokes too.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
from pathlib import Path


class Hints(queue.Queue[Path]):
    """Paths that changed in an inbox; ``wait`` returns as soon as one comes or a poke."""

    def __init__(self) -> None:
        super().__init__()
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def put(self, item: Path, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self.poke()

    def poke(self) -> None:
        """Wake ``wait``: safe in a signal handler (one write, no lock)."""
        # A full pipe already holds a wake-up. The pipe is never closed: a job thread may
        # still poke after the loop ends, and a closed descriptor's number is reused.
        with contextlib.suppress(BlockingIOError):
            os.write(self._write, b"\0")

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a hint or a poke; True if woken."""
        ready, _, _ = select.select([self._read], [], [], max(0.0, timeout))
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 4096):
                pass
        return True

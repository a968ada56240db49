"""The main loop's wake-up, and signals handed to a thread of their own.

A signal handler runs in the main thread, between any two bytecodes, even inside
itself: it must not take a lock. Putting to a queue takes the queue's lock, and so does
``threading.Event.set``: if the signal lands while the main thread holds that lock (in
``get``, ``clear``, or the previous signal's ``set``), the handler waits for itself for
ever. So the handler (``SignalPipe.handle``) writes the signal's number to a pipe, and
the ``signals`` thread acts on it (sets the events) and ``poke``-s the loop awake:
``Hints`` is the queue of change hints with a pipe of its own that the loop waits on.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import threading
from collections.abc import Callable
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


class SignalPipe:
    """Signals taken in the handler without a lock, acted on by a thread of their own."""

    def __init__(self, act: Callable[[int], None]) -> None:
        self._read, self._write = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self._write, False)
        self._act = act
        threading.Thread(target=self._run, name="signals", daemon=True).start()

    def handle(self, signum: int) -> None:
        """For the signal handler: one write to a pipe, no lock."""
        with contextlib.suppress(BlockingIOError):  # 64 KiB of signals not yet acted on
            os.write(self._write, bytes([signum]))

    def _run(self) -> None:
        while True:
            for signum in os.read(self._read, 256):
                self._act(signum)

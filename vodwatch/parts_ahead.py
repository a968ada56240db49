"""Parts worked out ahead of the connections that send them: each part's MD5 on hasher
threads, and the signed URL that goes with it, so no connection waits between parts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

# Threads working out part MD5s ahead of the senders (MD5 runs outside the GIL).
HASH_THREADS = max(1, min(2, os.cpu_count() or 1))


class PartHashes:
    """MD5s of the parts in ``todo``, worked out in order on HASH_THREADS threads, at
    most ``ahead`` parts beyond the last one taken."""

    def __init__(self, hash_part: Callable[[int], str], todo: list[int], ahead: int) -> None:
        self._hash_part = hash_part
        self._todo = todo
        self._ahead = ahead
        self._pool = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="part-md5")
        self._futures: dict[int, Future[str]] = {}
        self._lock = threading.Lock()
        self._taken = 0
        with self._lock:
            for i in range(ahead):
                self._submit(i)

    def _submit(self, i: int) -> None:  # with the lock held
        if i < len(self._todo):
            n = self._todo[i]
            self._futures[n] = self._pool.submit(self._hash_part, n)

    def take(self) -> tuple[int, Future[str]] | None:
        """The next part number and its MD5 to come; None when all are taken."""
        with self._lock:
            if self._taken >= len(self._todo):
                return None
            n = self._todo[self._taken]
            self._submit(self._taken + self._ahead)
            self._taken += 1
            return n, self._futures.pop(n)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class Signed:
    """A part's MD5 (base64) and the signed URL VOD gave for sending it."""

    md5: str
    url: str | None  # None: to be asked for when the part is sent

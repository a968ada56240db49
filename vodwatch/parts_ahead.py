"""Parts worked out ahead of the connections that send them: each part's MD5 on hasher
threads (or already known from the read made while the file settled), and the signed
URL that goes with it, so no connection waits between parts.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

# Threads working out part MD5s ahead of the senders (MD5 runs outside the GIL).
HASH_THREADS = max(1, min(2, os.cpu_count() or 1))


class PartHashes:
    """MD5s of the parts in ``todo``, worked out in order on HASH_THREADS threads, at
    most ``ahead`` parts beyond the last one taken; or, given ``known`` (the MD5 of
    every part, in order), handed out at once."""

    def __init__(self, hash_part: Callable[[int], str], todo: list[int], ahead: int,
                 known: Sequence[str] | None = None) -> None:
        self._hash_part = hash_part
        self._known = known
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
            if self._known is not None:
                done: Future[str] = Future()
                done.set_result(self._known[n - 1])
                self._futures[n] = done
            else:
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


@dataclass(frozen=True)
class SettledParts:
    """Part MD5s worked out with the whole-file hash while the file settled: good only
    for the file as it was read (``identity``: size, mtime, ctime, inode) and for parts
    of ``part_size``."""

    identity: tuple[int, int, int, int]
    part_size: int
    md5s: tuple[str, ...]


class SettledStore:
    """Settled part MD5s by journal file id, from the hash step to the upload step; the
    oldest are forgotten beyond ``keep`` (a file whose upload never came)."""

    def __init__(self, keep: int = 32) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._by_file: OrderedDict[int, SettledParts] = OrderedDict()

    def put(self, file_id: int, parts: SettledParts) -> None:
        with self._lock:
            self._by_file[file_id] = parts
            while len(self._by_file) > self._keep:
                self._by_file.popitem(last=False)

    def take(self, file_id: int) -> SettledParts | None:
        with self._lock:
            return self._by_file.pop(file_id, None)

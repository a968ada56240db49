"""Choosing a new multipart upload's part size: while the file settles (so its parts'
MD5s are worked out in the same read as the whole-file hash), and when the upload
starts, where the parts hashed while settling are used only if the size chosen then
is the same.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import structlog

from .parts_ahead import HASH_THREADS, SettledParts
from .partsize import (
    HASH_RATE,
    MIN_SPLIT,
    LinkEstimate,
    PartChoice,
    choose_part_size,
    part_size_for,
)

log = structlog.get_logger("vodwatch.upload")


class PartPlanner:
    """The part-size half of the multipart sender (its fields are declared on the
    Uploader)."""

    if TYPE_CHECKING:
        part_size: int
        parallel_parts: int
        adaptive: bool
        calls_per_minute: float
        link: LinkEstimate
        _uploads: int
        _uploads_lock: threading.Lock

        def _hash_range(self, fd: int, offset: int, length: int) -> str: ...

    def planned_part_size(self, size: int) -> int:
        """The part size a new upload of ``size`` bytes would be cut at if its parts
        were hashed while the file settles; 0 while that depends on what is not known
        yet (no rate measured: the upload chooses once VOD has answered)."""
        if not self.adaptive:
            return part_size_for(size, self.part_size, self.parallel_parts)
        if self.link.rate is None:
            return 0
        with self._uploads_lock:
            uploads = self._uploads + 1  # those under way, and this one
        return self._prehashed_choice(size, uploads).size

    def _prehashed_choice(self, size: int, uploads: int) -> PartChoice:
        if not self.adaptive:
            return PartChoice(part_size_for(size, self.part_size, self.parallel_parts), 0,
                              "upload.part_size_mb as set")
        with self.link.lock:
            rate, rtt = self.link.rate, self.link.rtt
        return choose_part_size(size, self.parallel_parts, rate=rate, rtt=rtt,
                                calls_per_minute=self.calls_per_minute,
                                uploads=max(1, uploads), prehashed=True)

    def _plan(self, fd: int, size: int, vod_seconds: float, settled: SettledParts | None
              ) -> tuple[int, str, tuple[str, ...] | None]:
        """The part size of a new upload, why, and its parts' MD5s if they were worked
        out while the file settled at the size chosen now (else None: hashed now)."""
        if settled is not None:
            with self._uploads_lock:
                uploads = self._uploads
            want = self._prehashed_choice(size, uploads)
            if want.size == settled.part_size:
                return want.size, want.reason, settled.md5s
            log.info("upload.settled_parts_unused", part_size=settled.part_size,
                     now=want.size, why="the part size chosen now differs: parts are hashed")
        size_, why = self._part_size(fd, size, vod_seconds)
        return size_, why, None

    def _part_size(self, fd: int, size: int, vod_seconds: float) -> tuple[int, str]:
        """The part size for a new upload of ``size`` bytes, and why.

        ``vod_seconds`` is how long VOD took to answer the authority call just made:
        the round trip until the store's own has been measured.
        """
        if not self.adaptive:
            return (part_size_for(size, self.part_size, self.parallel_parts),
                    "upload.part_size_mb as set")
        if self.link.hash_rate is None and size >= MIN_SPLIT:
            started = time.monotonic()
            self._hash_range(fd, 0, MIN_SPLIT)  # what MD5 costs on this machine
            self.link.saw_hash(MIN_SPLIT, time.monotonic() - started)
        with self.link.lock:
            rate, rtt, hash_rate = self.link.rate, self.link.rtt, self.link.hash_rate
        with self._uploads_lock:
            uploads = self._uploads
        choice = choose_part_size(size, self.parallel_parts, rate=rate,
                                  rtt=rtt if rtt is not None else vod_seconds,
                                  calls_per_minute=self.calls_per_minute,
                                  uploads=max(1, uploads),
                                  hash_rate=(hash_rate or HASH_RATE) * HASH_THREADS)
        return choice.size, choice.reason

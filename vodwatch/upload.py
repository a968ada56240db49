"""Step 7: the bytes. Hashing, one PUT for small files, resumable parallel multipart
for large ones, all through one open file descriptor and bounded memory.

The journal is the checkpoint: a part is recorded the moment the store accepts it,
and a restart continues from the store's own list of parts.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import structlog

from .errors import (
    ExpiredUrl,
    FileChanged,
    Interrupted,
    RemoteError,
    TransportError,
)
from .group import md5_b64
from .identity import (
    HASH_BLOCK,
    META,
    SAME,
    Snapshot,
    check_unchanged,
    compare,
    hash_file,
    journaled_snapshot,
    rehash_matches,
)
from .journal import FileRow, Journal
from .multipart import MultipartSender
from .parts_ahead import SettledStore
from .partsize import LinkEstimate, MiB, PartChoice, choose_part_size, part_size_for
from .vod.api import VodClient
from .vod.obs import EXPIRY_MARGIN, Body, ObsClient, url_expires

log = structlog.get_logger("vodwatch.upload")
_T = TypeVar("_T")

CHUNK = 1 * MiB



class RateLimit:
    """Shared bytes-per-second cap for all uploads; 0 means none."""

    def __init__(self, bytes_per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = bytes_per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def consume(self, n: int) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + n / self.rate
            wait_for = start - now
        if wait_for > 0:
            self._sleep(wait_for)


@dataclass
class Progress:
    """Bytes sent for one file; read by the daemon for logs, status and metrics."""

    name: str
    asset_id: str
    total: int
    sent: int = 0
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, n: int) -> None:
        with self.lock:
            self.sent += n

    def rewind(self, n: int) -> None:
        with self.lock:
            self.sent = max(0, self.sent - n)


@dataclass
class Uploader(MultipartSender):
    """Everything one upload needs; one per folder set."""

    vod: VodClient
    obs: ObsClient
    journal: Journal
    part_size: int = 20 * MiB
    parallel_parts: int = 4
    rate: RateLimit = field(default_factory=lambda: RateLimit(0))
    stop: threading.Event = field(default_factory=threading.Event)  # no new parts
    abort: threading.Event = field(default_factory=threading.Event)  # stop sending at once
    retry_part: Callable[[BaseException, int], float | None] = lambda exc, attempt: None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    on_started: Callable[[int], None] | None = None  # a multipart upload got its ID (job id)
    # True: the part size of a new upload fits the path (choose_part_size) and
    # ``part_size`` is not used; False: ``part_size`` is an explicit setting.
    adaptive: bool = False
    calls_per_minute: float = 1400.0  # the pacing of authority + confirm calls
    link: LinkEstimate = field(default_factory=LinkEstimate)
    settled: SettledStore = field(default_factory=SettledStore)  # part MD5s from settling
    link_file: Path | None = None  # where ``link`` is remembered, under ``endpoint``
    endpoint: str = ""
    _uploads: int = field(default=0, init=False, repr=False)
    _uploads_lock: threading.Lock = field(default_factory=threading.Lock, init=False,
                                          repr=False)

    def _chunks(self, fd: int, offset: int, length: int, progress: Progress | None,
                hasher: hashlib._Hash | None = None) -> Iterator[bytes]:
        end = offset + length
        pos = offset
        while pos < end:
            if self.abort.is_set():
                raise Interrupted("stopping at once")
            data = os.pread(fd, min(CHUNK, end - pos), pos)
            if not data:
                raise FileChanged("the file became shorter while it was being sent",
                                  "it will be sent again once it stays unchanged")
            self.rate.consume(len(data))
            if hasher is not None:
                hasher.update(data)
            pos += len(data)
            if progress is not None:
                progress.add(len(data))
            yield data

    def _hash_range(self, fd: int, offset: int, length: int) -> str:
        """MD5 (base64) of ``length`` bytes at ``offset``; not sent, so not paced."""
        h = hashlib.md5()
        buf = bytearray(min(HASH_BLOCK, length) or 1)
        end = offset + length
        while offset < end:
            if self.abort.is_set():
                raise Interrupted("stopping at once")
            n = os.preadv(fd, [memoryview(buf)[: end - offset]], offset)
            if not n:
                raise FileChanged("the file became shorter while it was being sent",
                                  "it will be sent again once it stays unchanged")
            h.update(memoryview(buf)[:n])
            offset += n
        return md5_b64(h.digest())

    # ---- single PUT ------------------------------------------------------------------

    def put_single(self, row: FileRow, path: Path, content_type: str,
                   progress: Progress | None = None) -> None:
        """One PUT of the whole file to its signed URL; MD5 re-checked as it streams."""
        url = row.upload_url
        if not url:
            raise ExpiredUrl("no upload URL is stored for this file")
        expires = row.url_expires if row.url_expires is not None else url_expires(url)
        if expires is not None and expires < self.clock() + EXPIRY_MARGIN:
            raise ExpiredUrl(f"the upload URL for {row.name} has expired")
        assert row.size is not None
        fd = os.open(path, os.O_RDONLY)
        try:
            hasher = hashlib.md5()
            body = Body(self._chunks(fd, 0, row.size, progress, hasher), row.size)
            try:
                self.obs.put_object(url, body, content_type, row.md5)
            except BaseException as exc:
                if progress is not None:
                    progress.rewind(row.size)
                if isinstance(exc, RemoteError) and exc.code == "BadDigest":
                    check_unchanged(path, row)  # FileChanged if an edit caused it
                raise
            if md5_b64(hasher.digest()) != row.md5:
                raise FileChanged(f"{row.name} changed while vodwatch was sending it",
                                  "it will be sent again once it stays unchanged")
        finally:
            os.close(fd)

    # ---- multipart -------------------------------------------------------------------

    def _with_retry(self, fn: Callable[[], _T], what: str) -> _T:
        attempt = 0
        while True:
            try:
                return fn()
            except (RemoteError, TransportError) as exc:
                attempt += 1
                delay = self.retry_part(exc, attempt)
                if delay is None:
                    raise
                log.info("upload.retry", step=what, attempt=attempt, delay=round(delay, 1),
                         error=str(exc))
                self.sleep(delay)


__all__ = [
    "META",
    "SAME",
    "ExpiredUrl",
    "Interrupted",
    "LinkEstimate",
    "MiB",
    "PartChoice",
    "Progress",
    "RateLimit",
    "Snapshot",
    "Uploader",
    "check_unchanged",
    "choose_part_size",
    "compare",
    "hash_file",
    "journaled_snapshot",
    "part_size_for",
    "rehash_matches",
]

"""Step 7: the bytes. Hashing, one PUT for small files, resumable parallel multipart
for large ones, all through one open file descriptor and bounded memory.

The journal is the checkpoint: a part is recorded the moment the store accepts it,
and a restart continues from the store's own list of parts.
"""

from __future__ import annotations

import contextvars
import errno
import hashlib
import math
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import structlog

from .errors import (
    FileChanged,
    FileVanished,
    MetadataChanged,
    RemoteError,
    TransportError,
    VodwatchError,
)
from .group import md5_b64
from .journal import FileRow, Journal, PartRow
from .vod.api import VodClient
from .vod.obs import Body, ObsClient, url_expires
from .watch import read_attributes

log = structlog.get_logger("vodwatch.upload")
_T = TypeVar("_T")

MiB = 1024 * 1024
CHUNK = 1 * MiB
HASH_BLOCK = 4 * MiB
MAX_PARTS = 10_000
MIN_PART = 100 * 1024
# A signed URL this close to its expiry is treated as expired: a PUT of a few MB
# must not start with seconds left.
EXPIRY_MARGIN = 60.0


class Interrupted(VodwatchError):
    """Shutdown asked the upload to stop; the journal holds the checkpoint."""


class ExpiredUrl(VodwatchError):
    """The stored signed URL has expired or is about to."""


@dataclass(frozen=True)
class Snapshot:
    """What the file looked like: any write changes ctime, even if mtime is faked."""

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int

    @classmethod
    def of(cls, path: Path) -> Snapshot:
        """The file's attributes read fresh (open and fstat; lstat for what can't be
        opened), links not followed; FileVanished if it is gone."""
        found = read_attributes(path)
        if found is None:
            raise _vanished(path)
        return cls.from_stat(found[0])

    @classmethod
    def from_stat(cls, st: os.stat_result) -> Snapshot:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _vanished(path: Path) -> FileVanished:
    return FileVanished(f"{path.name} disappeared while vodwatch was working on it",
                        "drop it again if it should be uploaded")


Verdict = Literal["same", "content", "meta"]
SAME: Verdict = "same"
CONTENT: Verdict = "content"
META: Verdict = "meta"


def compare(journaled: Snapshot, now: Snapshot) -> Verdict:
    """How ``now`` differs from ``journaled``: "same", "content" or "meta".

    "content": the size or mtime moved, so the bytes did: abandon and redo the upload.
    "meta": only ctime and/or inode moved (a Finder tag, an SMB ChangeTime, FUSE or
    ``noserverino`` inodes, but also an in-place write that put the mtime back): go
    on only if a new hash is byte-identical (``rehash_matches``).
    """
    if (journaled.size, journaled.mtime_ns) != (now.size, now.mtime_ns):
        return CONTENT
    if (journaled.ctime_ns, journaled.ino) != (now.ctime_ns, now.ino):
        return META
    return SAME


def journaled_snapshot(row: FileRow) -> Snapshot | None:
    """The snapshot the journal holds for ``row``; None if it holds none yet."""
    if row.size is None or row.mtime_ns is None or row.ctime_ns is None or row.ino is None:
        return None
    return Snapshot(row.size, row.mtime_ns, row.ctime_ns, row.ino)


def check_unchanged(path: Path, row: FileRow) -> None:
    """Raise unless the file is as journaled, its attributes read fresh.

    FileChanged if its size or mtime moved (or nothing is journaled); MetadataChanged
    (a FileChanged) if only its ctime or inode did; FileVanished if it is gone.
    """
    now = Snapshot.of(path)
    journaled = journaled_snapshot(row)
    verdict = CONTENT if journaled is None else compare(journaled, now)
    if verdict == CONTENT:
        raise FileChanged(f"{row.name} changed while vodwatch was sending it",
                          "it will be sent again once it stays unchanged")
    if verdict == META:
        raise MetadataChanged(f"{row.name} had its attributes changed while vodwatch was "
                              "sending it", "it is checked byte for byte, and sent again "
                              "if its content changed")


def hash_file(path: Path, stop: threading.Event | None = None) -> tuple[str, Snapshot]:
    """Whole-file MD5 (base64) and the snapshot it belongs to; FileChanged if it moved.

    The snapshot is the fstat of the descriptor that was read, taken before and after
    the reading: any write meanwhile (even one that put size and mtime back) moves
    ctime. The path must still name that file afterwards (not renamed over).
    """
    md5, snap, _ = _hash_path(path, stop, 0)
    return md5, snap


def _hash_path(path: Path, stop: threading.Event | None, part_size: int
               ) -> tuple[str, Snapshot, list[str]]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise _vanished(path) from None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise _replaced(path) from None  # by a symbolic link
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise _replaced(path)
        md5, length, parts = _hash_fd(fd, stop, part_size)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    snap = Snapshot.from_stat(after)
    if Snapshot.from_stat(before) != snap or length != snap.size:
        raise FileChanged(f"{path.name} changed while vodwatch was reading it",
                          "it will be sent once it stays unchanged")
    try:
        named = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise _vanished(path) from None
    if (named.st_dev, named.st_ino) != (after.st_dev, after.st_ino):
        raise _replaced(path)
    return md5, snap, parts


def _replaced(path: Path) -> FileChanged:
    return FileChanged(f"{path.name} was replaced while vodwatch was reading it",
                       "it will be sent once it stays unchanged")


def _hash_fd(fd: int, stop: threading.Event | None, part_size: int
             ) -> tuple[str, int, list[str]]:
    """MD5 (base64) of everything readable from ``fd`` from the start, its length, and
    (if ``part_size``) the MD5 of each ``part_size`` piece, in one pass."""
    whole = hashlib.md5()
    part = hashlib.md5()
    parts: list[str] = []
    buf = bytearray(HASH_BLOCK)
    view = memoryview(buf)
    offset = 0
    while True:
        if stop is not None and stop.is_set():
            raise Interrupted("stopping")
        n = os.preadv(fd, [buf], offset)
        if not n:
            break
        whole.update(view[:n])
        pos = 0
        while part_size and pos < n:
            room = part_size - (offset + pos) % part_size
            take = min(room, n - pos)
            part.update(view[pos:pos + take])
            pos += take
            if take == room:
                parts.append(md5_b64(part.digest()))
                part = hashlib.md5()
        offset += n
    if part_size and (offset % part_size or not offset):
        parts.append(md5_b64(part.digest()))
    return md5_b64(whole.digest()), offset, parts


def rehash_matches(path: Path, md5_b64: str, stop: threading.Event | None = None, *,
                   parts: Sequence[PartRow] = (), part_size: int = 0) -> Snapshot | None:
    """Hash ``path`` again: its new snapshot if its MD5 is still ``md5_b64``, else None.

    For a "meta" verdict: the caller records the returned snapshot in the journal
    and goes on. After a multipart upload, pass the journaled ``parts`` and the
    ``part_size``: each part's bytes now must also be what was sent (the file may
    have been changed and changed back meanwhile), in the same single read.
    FileChanged if the file moves while being read, FileVanished if it is gone.
    """
    if parts and part_size <= 0:
        raise ValueError("part_size is needed to check parts")
    new_md5, snap, part_md5s = _hash_path(path, stop, part_size if parts else 0)
    if new_md5 != md5_b64:
        return None
    for p in parts:
        if not 1 <= p.part_number <= len(part_md5s) or part_md5s[p.part_number - 1] != p.md5:
            return None
    return snap


def part_size_for(size: int, preferred: int, parallel: int = 1) -> int:
    """Preferred part size, grown (in whole MiB) so the file needs at most 10,000 parts.

    With ``parallel`` parts in flight, a file of at least that many parts is cut
    into a multiple of ``parallel`` equal parts (each no larger than preferred), so
    the last round of parts keeps every connection busy instead of one or two.
    """
    part = max(preferred, MIN_PART)
    if math.ceil(size / part) > MAX_PARTS:
        return math.ceil(size / MAX_PARTS / MiB) * MiB
    count = math.ceil(size / part)
    if parallel > 1 and count >= parallel and count % parallel:
        balanced = math.ceil(size / (math.ceil(count / parallel) * parallel))
        if balanced >= MIN_PART:
            part = balanced
    return part


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
class Uploader:
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

    def put_multipart(self, row: FileRow, path: Path, content_type: str,
                      progress: Progress | None = None) -> None:
        """Multipart upload through VOD's authority API, resuming from the journal."""
        assert row.size is not None and row.bucket and row.object_key
        bucket, key = row.bucket, row.object_key
        fd = os.open(path, os.O_RDONLY)
        try:
            upload_id, part_size = row.upload_id, row.part_size
            if upload_id and part_size and not self._reconcile(row, fd, bucket, key, upload_id,
                                                               part_size):
                upload_id = None  # the store forgot it: start afresh
            if not upload_id or not part_size:
                part_size = part_size_for(row.size, self.part_size, self.parallel_parts)
                upload_id = self._with_retry(lambda: self.obs.initiate(
                    self.vod.authority(http_verb="POST", bucket=bucket, object_key=key,
                                       content_type=content_type), content_type), "initiate")
                self.journal.replace_parts(row.id, [])
                self.journal.set_file(row.id, upload_id=upload_id, part_size=part_size,
                                      state="uploading", upload_started_at=self.clock())
                if self.on_started is not None:
                    self.on_started(row.job_id)  # the job's ticket on the share learns the ID
                log.info("upload.multipart_started", file=row.name, parts=math.ceil(
                    row.size / part_size) or 1, part_size=part_size)
            count = max(1, math.ceil(row.size / part_size))
            done = {p.part_number for p in self.journal.parts(row.id)}
            if progress is not None:
                progress.add(sum(p.size for p in self.journal.parts(row.id)))
            todo = [n for n in range(1, count + 1) if n not in done]
            self._send_parts(row, fd, bucket, key, upload_id, part_size, todo, progress)
            check_unchanged(path, row)
            parts = [(p.part_number, p.etag) for p in self.journal.parts(row.id)]
            if [n for n, _ in parts] != list(range(1, count + 1)):
                raise FileChanged("the journal and the store disagree about the parts",
                                  "the upload is checked again")
            self._complete(bucket, key, upload_id, parts)
        finally:
            os.close(fd)

    def abort_multipart(self, row: FileRow) -> None:
        """Best effort: tell the store to drop a multipart upload we give up on."""
        if not (row.upload_id and row.bucket and row.object_key):
            return
        try:
            self.obs.abort(self.vod.authority(http_verb="DELETE", bucket=row.bucket,
                                              object_key=row.object_key,
                                              upload_id=row.upload_id))
        except (RemoteError, TransportError) as exc:
            log.info("upload.abort_failed", file=row.name, error=str(exc))
        self.journal.replace_parts(row.id, [])
        self.journal.set_file(row.id, upload_id=None, part_size=None)

    def _reconcile(self, row: FileRow, fd: int, bucket: str, key: str, upload_id: str,
                   part_size: int) -> bool:
        """Make the journal's parts agree with the store's; False if the upload is gone.

        A part the journal does not know by its ETag (sent by a daemon we took over
        from, or before a crash) is kept only if the store's ETag is the MD5 of the
        file's bytes at that place now; any other is sent again.
        """
        try:
            listed = self._with_retry(lambda: self.obs.list_parts(self.vod.authority(
                http_verb="GET", bucket=bucket, object_key=key, upload_id=upload_id)),
                "list_parts")
        except RemoteError as exc:
            if exc.code == "NoSuchUpload" or exc.status == 404:
                log.info("upload.restart", file=row.name, reason="the store forgot the upload")
                self.journal.replace_parts(row.id, [])
                return False
            raise
        journaled = {p.part_number: p for p in self.journal.parts(row.id)}
        agreed = []
        assert row.size is not None
        for lp in listed:
            mine = journaled.get(lp.part_number)
            if mine and mine.etag == lp.etag:
                agreed.append(PartRow(lp.part_number, lp.size, mine.md5, lp.etag))
                continue
            offset = (lp.part_number - 1) * part_size
            length = min(part_size, row.size - offset)
            md5 = _etag_md5(lp.etag)
            if md5 is None or length <= 0 or lp.size != length or (
                    self._hash_range(fd, offset, length) != md5):
                log.warning("upload.part_mismatch", file=row.name, part=lp.part_number,
                            action="send it again")
                continue
            agreed.append(PartRow(lp.part_number, lp.size, md5, lp.etag))
        self.journal.replace_parts(row.id, agreed)
        log.info("upload.resumed", file=row.name, parts_done=len(agreed))
        return True

    def _send_parts(self, row: FileRow, fd: int, bucket: str, key: str, upload_id: str,
                    part_size: int, todo: list[int], progress: Progress | None) -> None:
        """Send the parts in ``todo`` on ``parallel_parts`` threads.

        One more thread works out the parts' MD5s in order, a few parts ahead of the
        senders, so that hashing the next part overlaps sending the current ones
        instead of delaying each part by its hashing time.
        """
        assert row.size is not None
        size = row.size
        lock = threading.Lock()
        give_up = threading.Event()  # one part failed: the others stop taking new parts
        workers = max(1, min(self.parallel_parts, len(todo)))
        ahead = workers + 1
        hasher = ThreadPoolExecutor(1, thread_name_prefix="part-md5")
        digests: dict[int, Future[str]] = {}
        taken = 0

        def span(n: int) -> tuple[int, int]:
            offset = (n - 1) * part_size
            return offset, min(part_size, size - offset)

        def hash_ahead(i: int) -> None:  # with ``lock`` held
            if i < len(todo):
                digests[todo[i]] = hasher.submit(self._hash_range, fd, *span(todo[i]))

        def worker() -> None:
            nonlocal taken
            while True:
                if give_up.is_set():
                    return
                if self.stop.is_set():
                    raise Interrupted("stopping: remaining parts are left for later")
                with lock:
                    if taken >= len(todo):
                        return
                    n = todo[taken]
                    hash_ahead(taken + ahead)
                    taken += 1
                    md5 = digests.pop(n)
                self._send_part(row, fd, bucket, key, upload_id, n, *span(n), progress,
                                md5.result())

        try:
            with lock:
                for i in range(ahead):
                    hash_ahead(i)
            with ThreadPoolExecutor(workers, thread_name_prefix="part") as pool:
                # Each sender runs in a copy of this job's logging context (job, asset).
                futures: list[Future[None]] = [
                    pool.submit(contextvars.copy_context().run, worker) for _ in range(workers)]
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                failed = [f for f in done if f.exception() is not None]
                if failed:
                    give_up.set()
                    wait(futures)
                    exc = failed[0].exception()
                    assert exc is not None
                    raise exc
        finally:
            hasher.shutdown(wait=True, cancel_futures=True)

    def _send_part(self, row: FileRow, fd: int, bucket: str, key: str, upload_id: str,
                   n: int, offset: int, length: int, progress: Progress | None,
                   md5: str) -> None:
        """Send one part whose MD5 (base64) is ``md5``, retrying as ``retry_part`` says."""
        attempt = 0
        while True:
            try:
                url = self.vod.authority(http_verb="PUT", bucket=bucket, object_key=key,
                                         content_md5=md5, upload_id=upload_id, part_number=n)
                etag = self.obs.upload_part(url, Body(self._chunks(fd, offset, length, progress),
                                                      length), md5)
            except (RemoteError, TransportError) as exc:
                if progress is not None:
                    progress.rewind(length)
                if isinstance(exc, RemoteError) and exc.code == "BadDigest":
                    # The bytes changed between hashing and sending.
                    raise FileChanged(f"{row.name} changed while vodwatch was sending it",
                                      "it will be sent again once it stays unchanged") from None
                attempt += 1
                delay = self.retry_part(exc, attempt)
                if delay is None:
                    raise
                log.info("upload.part_retry", file=row.name, part=n, attempt=attempt,
                         delay=round(delay, 1), error=str(exc))
                self.sleep(delay)
                continue
            self.journal.add_part(row.id, PartRow(n, length, md5, etag))
            return

    def _complete(self, bucket: str, key: str, upload_id: str,
                  parts: list[tuple[int, str]]) -> None:
        tried = False

        def complete() -> None:
            nonlocal tried
            try:
                self.obs.complete(self.vod.authority(http_verb="POST", bucket=bucket,
                                                     object_key=key, upload_id=upload_id),
                                  parts)
            except RemoteError as exc:
                if not (tried and exc.code == "NoSuchUpload"):
                    raise
                # An earlier complete whose answer was lost did merge the parts.
            finally:
                tried = True

        self._with_retry(complete, "complete")

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


def _etag_md5(etag: str) -> str | None:
    """The base64 MD5 inside a part ETag (quoted hex MD5), or None if it is not one."""
    hexdigest = etag.strip('"')
    try:
        raw = bytes.fromhex(hexdigest)
    except ValueError:
        return None
    return md5_b64(raw) if len(raw) == 16 else None


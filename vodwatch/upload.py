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
# Threads working out part MD5s ahead of the senders (MD5 runs outside the GIL).
HASH_THREADS = max(1, min(2, os.cpu_count() or 1))


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


# ---- choosing the part size from the path ------------------------------------------------

MIN_SPLIT = 5 * MiB  # a file is cut into parallel_parts parts only while each stays this big
MAX_AUTO_PART = 1024 * MiB  # bigger parts gain nothing and make a retry or a resume costly
MAX_PART_SECONDS = 30.0  # ... nor should one part take longer than this to send
FALLBACK_PART = 20 * MiB  # VOD's recommendation, when the round trip is not known yet
HASH_RATE = 500e6  # bytes/s a part's MD5 is worked out at, until measured
# Share of the tenant's upload-call limit (authority + confirm) the parts of all uploads
# going on at once may use at the link's measured rate: the rest is headroom.
AUTHORITY_SHARE = 0.5


@dataclass(frozen=True)
class PartChoice:
    """A part size for one file and why."""

    size: int
    count: int
    reason: str


def choose_part_size(size: int, parallel: int, *, rate: float | None = None,
                     rtt: float | None = None, calls_per_minute: float = 1400.0,
                     uploads: int = 1, hash_rate: float = HASH_RATE) -> PartChoice:
    """The part size for a file of ``size`` bytes sent on ``parallel`` connections.

    ``rate`` is what one connection carries (bytes/s) and ``rtt`` the store's round
    trip (s), as measured on earlier parts; None when not known yet. Each part costs
    one round trip on its connection (the authority call is made ahead, hidden),
    and no connection can start before its first part is hashed: the last one
    waits for ``parallel`` parts' hashing, less the initiate's round trip the
    hashing overlaps. With ``k`` parts per connection both add up to
    ``max(0, size / (k * hash_rate) - rtt) + k * rtt``; ``k`` is chosen to make that
    least. Then, in this order of precedence:

    - OBS: at most 10,000 parts, each >= 100 KiB (except the last) and <= 5 GiB;
    - at least ``parallel`` parts while each stays >= 5 MiB, so every connection works;
    - parts no smaller than what keeps the authority calls of ``uploads`` uploads at
      ``rate`` within half of ``calls_per_minute`` (VOD allows 1500/min for authority
      and confirm together), so the limit on calls never becomes the limit on bytes;
    - no part longer than 30 s to send, nor over 1 GiB; and the count a multiple of
      ``parallel``, so the last round keeps every connection busy.
    """
    p = max(1, parallel)
    if size <= 0:
        return PartChoice(MIN_PART, 1, "empty file")
    # The OBS floor: 10,000 parts at most, in whole MiB when it binds (as part_size_for).
    floor_obs = max(MIN_PART, math.ceil(size / MAX_PARTS / MiB) * MiB
                    if size > MAX_PARTS * MIN_PART else MIN_PART)
    # Every connection gets a part, as long as parts stay >= 5 MiB.
    spread = max(1, min(p, size // MIN_SPLIT))
    ceiling = max(floor_obs, math.ceil(size / spread))
    why: list[str] = []
    if rtt is None or rtt <= 0:
        part = FALLBACK_PART
        why.append("round trip not measured yet: 20 MiB")
    else:
        k = _best_rounds(size, max(hash_rate, 1e6), rtt)
        part = math.ceil(size / (k * p))
        why.append(f"{k} part(s) per connection balance the {rtt * 1000:.0f} ms round trip "
                   f"per part against hashing the first round at {hash_rate / 1e6:.0f} MB/s")
    least = 0
    if rate is None or rate <= 0:
        # The link may be as fast as loopback: keep VOD's 20 MiB as the smallest part,
        # which holds the authority calls within the limit up to about 490 MB/s.
        least = FALLBACK_PART
        if part < least:
            part = least
            why.append("at least 20 MiB until a rate is measured")
    else:
        longest = int(rate * MAX_PART_SECONDS)
        if part > longest:
            part = longest
            why.append(f"capped at {MAX_PART_SECONDS:.0f} s per part")
        budget = calls_per_minute / 60 * AUTHORITY_SHARE / max(1, uploads)
        least = math.ceil(p * rate / budget)
        if part < least:
            part = least
            why.append(f"raised so {max(1, uploads)} upload(s) at {rate / 1e6:.1f} MB/s per "
                       f"connection need at most {budget:.1f} authority calls/s")
    if part > MAX_AUTO_PART:
        part = MAX_AUTO_PART
        why.append("capped at 1 GiB")
    if part > ceiling:
        part = ceiling
        why.append(f"cut into {spread} part(s) so every connection has one")
    part = max(part, floor_obs)
    count = math.ceil(size / part)
    if p > 1 and count > p and count % p:
        # Round the count to a multiple of the connections: up while parts stay above
        # the authority floor, else down (parts grow, never past the 10,000-part rule).
        up = math.ceil(size / (math.ceil(count / p) * p))
        down = math.ceil(size / (count // p * p))
        part = up if up >= max(floor_obs, least, MIN_SPLIT) else down
        count = math.ceil(size / part)
    return PartChoice(part, count, "; ".join(why))


def _best_rounds(size: int, hash_rate: float, rtt: float) -> int:
    """Parts per connection ``k`` that minimise ``max(0, size / (k * hash_rate) - rtt)
    + k * rtt``: the first round's hashing not hidden behind the initiate's round trip
    (the time by which the last connection starts after the first), plus one round
    trip per part."""
    def cost(k: int) -> float:
        return max(0.0, size / (k * hash_rate) - rtt) + k * rtt
    return min(range(1, 201), key=cost)


@dataclass
class LinkEstimate:
    """What the path has shown: one connection's rate, the store's round trip and the
    local MD5 speed, each a moving average over the latest samples (None until seen)."""

    rate: float | None = None
    rtt: float | None = None
    hash_rate: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _mix(self, old: float | None, new: float) -> float:
        return new if old is None else 0.7 * old + 0.3 * new

    def saw_round_trip(self, seconds: float) -> None:
        with self.lock:
            self.rtt = self._mix(self.rtt, max(seconds, 1e-4))

    def saw_part(self, length: int, seconds: float) -> None:
        """A part of ``length`` bytes took ``seconds`` from request to answer."""
        with self.lock:
            moving = seconds - (self.rtt or 0.0)
            if length >= MIN_SPLIT and moving > 0:
                self.rate = self._mix(self.rate, length / moving)

    def saw_hash(self, length: int, seconds: float) -> None:
        with self.lock:
            if length >= MIN_SPLIT and seconds > 0:
                self.hash_rate = self._mix(self.hash_rate, length / seconds)


class _PartHashes:
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
class _Signed:
    """A part's MD5 (base64) and the signed URL VOD gave for sending it."""

    md5: str
    url: str | None  # None: to be asked for when the part is sent


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
    # True: the part size of a new upload fits the path (choose_part_size) and
    # ``part_size`` is not used; False: ``part_size`` is an explicit setting.
    adaptive: bool = False
    calls_per_minute: float = 1400.0  # the pacing of authority + confirm calls
    link: LinkEstimate = field(default_factory=LinkEstimate)
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

    def put_multipart(self, row: FileRow, path: Path, content_type: str,
                      progress: Progress | None = None) -> None:
        """Multipart upload through VOD's authority API, resuming from the journal."""
        with self._uploads_lock:
            self._uploads += 1
        try:
            self._put_multipart(row, path, content_type, progress)
        finally:
            with self._uploads_lock:
                self._uploads -= 1

    def _put_multipart(self, row: FileRow, path: Path, content_type: str,
                       progress: Progress | None) -> None:
        assert row.size is not None and row.bucket and row.object_key
        bucket, key, size = row.bucket, row.object_key, row.size
        fd = os.open(path, os.O_RDONLY)
        hashes: _PartHashes | None = None
        try:
            upload_id, part_size = row.upload_id, row.part_size
            if upload_id and part_size and not self._reconcile(row, fd, bucket, key, upload_id,
                                                               part_size):
                upload_id = None  # the store forgot it: start afresh
            if not upload_id or not part_size:
                why = ""

                def initiate() -> str:
                    # The part size is chosen once VOD answered the first call (its
                    # time is a first sample of the round trip), and the first parts
                    # are hashed while the store initiates the upload.
                    nonlocal hashes, part_size, why
                    started = time.monotonic()
                    url = self.vod.authority(http_verb="POST", bucket=bucket, object_key=key,
                                             content_type=content_type)
                    if hashes is None:
                        part_size, why = self._part_size(fd, size, time.monotonic() - started)
                        count = max(1, math.ceil(size / part_size))
                        hashes = self._hashes(fd, size, part_size, list(range(1, count + 1)))
                    started = time.monotonic()
                    upload_id = self.obs.initiate(url, content_type)
                    self.link.saw_round_trip(time.monotonic() - started)
                    return upload_id

                upload_id = self._with_retry(initiate, "initiate")
                assert part_size
                self.journal.replace_parts(row.id, [])
                self.journal.set_file(row.id, upload_id=upload_id, part_size=part_size,
                                      state="uploading", upload_started_at=self.clock())
                if self.on_started is not None:
                    self.on_started(row.job_id)  # the job's ticket on the share learns the ID
                log.info("upload.multipart_started", file=row.name, parts=math.ceil(
                    size / part_size) or 1, part_size=part_size, why=why)
            # A resumed upload keeps its journaled part size: its parts were cut so.
            count = max(1, math.ceil(size / part_size))
            done = {p.part_number for p in self.journal.parts(row.id)}
            if progress is not None:
                progress.add(sum(p.size for p in self.journal.parts(row.id)))
            todo = [n for n in range(1, count + 1) if n not in done]
            if hashes is None:
                hashes = self._hashes(fd, size, part_size, todo)
            self._send_parts(row, fd, bucket, key, upload_id, part_size, hashes, len(todo),
                             progress)
            check_unchanged(path, row)
            parts = [(p.part_number, p.etag) for p in self.journal.parts(row.id)]
            if [n for n, _ in parts] != list(range(1, count + 1)):
                raise FileChanged("the journal and the store disagree about the parts",
                                  "the upload is checked again")
            self._complete(bucket, key, upload_id, parts)
        finally:
            if hashes is not None:
                hashes.close()
            os.close(fd)

    def _hashes(self, fd: int, size: int, part_size: int, todo: list[int]) -> _PartHashes:
        """Start working out the MD5s of the parts in ``todo``, ahead of the senders."""
        def hash_part(n: int) -> str:
            offset = (n - 1) * part_size
            length = min(part_size, size - offset)
            started = time.monotonic()
            md5 = self._hash_range(fd, offset, length)
            self.link.saw_hash(length, time.monotonic() - started)
            return md5

        workers = max(1, min(self.parallel_parts, len(todo)))
        return _PartHashes(hash_part, todo, 2 * workers + 1)  # sending + next, per sender

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
                    part_size: int, hashes: _PartHashes, parts: int,
                    progress: Progress | None) -> None:
        """Send the ``parts`` parts ``hashes`` hands out on ``parallel_parts`` connections.

        Hash ahead, authority ahead, send: hasher threads work out the parts' MD5s in
        order, a few parts ahead of the senders; each connection takes its next part
        as soon as it starts sending the current one and asks VOD for that part's
        signed URL (which needs the MD5) meanwhile, so between two parts it waits for
        no VOD round trip. The ahead URL's Expires is checked before it is used.
        """
        assert row.size is not None
        size = row.size
        give_up = threading.Event()  # one part failed: the others stop taking new parts
        workers = max(1, min(self.parallel_parts, parts))
        authorizer = ThreadPoolExecutor(workers, thread_name_prefix="part-url")

        def span(n: int) -> tuple[int, int]:
            offset = (n - 1) * part_size
            return offset, min(part_size, size - offset)

        def authorize(n: int, md5: Future[str]) -> _Signed:
            digest = md5.result()
            try:
                return _Signed(digest, self._part_url(bucket, key, upload_id, n, digest))
            except (RemoteError, TransportError) as exc:
                # Asked again when the part is sent, under the part's retry rules.
                log.info("upload.url_ahead_failed", file=row.name, part=n, error=str(exc))
                return _Signed(digest, None)

        def worker() -> None:
            current = hashes.take()
            signed = None if current is None else authorizer.submit(authorize, *current)
            while current is not None and signed is not None:
                if give_up.is_set():
                    return
                if self.stop.is_set():
                    raise Interrupted("stopping: remaining parts are left for later")
                ready = signed.result()
                following = hashes.take()
                signed = None if following is None else authorizer.submit(authorize,
                                                                          *following)
                self._send_part(row, fd, bucket, key, upload_id, current[0],
                                *span(current[0]), progress, ready)
                current = following

        try:
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
            authorizer.shutdown(wait=True, cancel_futures=True)

    def _part_url(self, bucket: str, key: str, upload_id: str, n: int, md5: str) -> str:
        return self.vod.authority(http_verb="PUT", bucket=bucket, object_key=key,
                                  content_md5=md5, upload_id=upload_id, part_number=n)

    def _send_part(self, row: FileRow, fd: int, bucket: str, key: str, upload_id: str,
                   n: int, offset: int, length: int, progress: Progress | None,
                   signed: _Signed) -> None:
        """Send part ``n`` with the URL obtained ahead (fetched again if it has expired
        or a retry needs a new one), retrying as ``retry_part`` says."""
        md5 = signed.md5
        url: str | None = signed.url
        attempt = 0
        while True:
            try:
                if url is not None:
                    expires = url_expires(url)
                    if expires is not None and expires < self.clock() + EXPIRY_MARGIN:
                        log.info("upload.url_expired", file=row.name, part=n,
                                 action="asking for a new one")
                        url = None
                if url is None:
                    url = self._part_url(bucket, key, upload_id, n, md5)
                started = time.monotonic()
                etag = self.obs.upload_part(url, Body(self._chunks(fd, offset, length, progress),
                                                      length), md5)
                self.link.saw_part(length, time.monotonic() - started)
            except (RemoteError, TransportError) as exc:
                url = None  # a retry asks for a new URL
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


"""The settle wait does useful work: the whole-file MD5 is computed while a file settles.

``settle_seconds`` is a policy wait in which the file must not change. UpdateAsset
needs the file's MD5, so vodwatch hashes a file speculatively as soon as it looks
still (a fresh look after a close-write event, or two equal looks in a row), one
file at a time per folder set. The result belongs to the exact identity it was
read under (size, mtime, ctime, inode, from the fstat of the descriptor read,
before and after): when the file is claimed, its hash is used only if the file
still has that identity; any change during hashing discards it. So a hash is never
trusted for bytes it did not read, and drop → done costs settle + upload rather
than settle + hash + upload whenever the settle window covers the hash time.

A file to go up in parts also has its parts' MD5s (each part's Content-MD5) worked
out in the same read, at the part size its upload would choose now (``plan``), so
the first round of parts needs no hashing before the connections start. They are
handed over with the whole-file hash, under the same identity check; the upload uses
them only if it still chooses that part size.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from .errors import VodwatchError
from .identity import Snapshot, hash_parts

log = structlog.get_logger("vodwatch.prehash")

Identity = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, ino

# Files whose hash is kept (or queued) for their claim. A file never claimed here (deleted,
# claimed by a peer daemon, failed for its name) is forgotten once this many came after
# it, so a daemon that watches files for months keeps no more than this; and a burst of
# files beyond it is hashed at claim time, as without this module.
KEEP = 256
# A write within one tick of the kernel's coarse clock after the file's last change
# leaves its size, mtime and ctime as they were, so a read begun that soon (right after
# the writer's close) could hash bytes that are then rewritten unseen. The read waits
# until the last change is this far in the past; at most this long.
TICK_GUARD_SECONDS = 0.05


def identity(snap: Snapshot) -> Identity:
    return snap.size, snap.mtime_ns, snap.ctime_ns, snap.ino


@dataclass(frozen=True)
class Prehashed:
    """What one read of the file gave: its MD5 (base64), the snapshot it was read under
    and, if a part size was planned (else 0), the MD5 of each part of that size."""

    md5: str
    snapshot: Snapshot
    part_size: int = 0
    parts: tuple[str, ...] = ()


class Prehasher:
    """Hashes still-looking files in the background; hands a hash over only for the
    identity it was read under."""

    def __init__(self, min_size: int = 1 << 20, stop: threading.Event | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.min_size = min_size
        self._stop = stop or threading.Event()
        self._wall = wall
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="prehash")
        self._lock = threading.Lock()
        self._reading: Path | None = None  # the file being read, if any
        self._work: OrderedDict[Path, tuple[Identity, Future[Prehashed | None]]] = (
            OrderedDict())

    def consider(self, path: Path, seen: Identity,
                 plan: Callable[[int], int] | None = None) -> None:
        """The file looks still with ``seen``: hash it unless that is under way or done.

        ``plan(size)`` is the part size a new upload of the file would be cut at (0 if
        it goes up in one piece or the size is not known yet): parts of that size are
        hashed in the same read."""
        if seen[0] < self.min_size:
            return  # hashing at claim time costs next to nothing
        with self._lock:
            current = self._work.get(path)
            if current is not None and (current[0] == seen or not current[1].done()):
                return  # this identity is covered, or a read is under way (it fails if moved)
            self._work[path] = (seen, self._pool.submit(self._hash, path, seen, plan))
            self._work.move_to_end(path)
            while len(self._work) > KEEP:
                self._work.popitem(last=False)[1][1].cancel()  # not read if not begun

    def _hash(self, path: Path, seen: Identity, plan: Callable[[int], int] | None
              ) -> Prehashed | None:
        size, changed_ns = seen[0], max(seen[1], seen[2])
        wait = changed_ns / 1e9 + TICK_GUARD_SECONDS - self._wall()
        if wait > 0 and self._stop.wait(min(wait, TICK_GUARD_SECONDS)):
            return None
        self._reading = path
        try:
            try:
                part_size = plan(size) if plan is not None else 0
            except Exception as exc:  # speculative: the upload plans (and hashes) itself
                log.warning("prehash.plan_failed", file=path.name, error=repr(exc))
                part_size = 0
            md5, snap, parts = hash_parts(path, part_size, self._stop)
            if snap.size != size:
                part_size, parts = 0, []  # planned for another size: the upload hashes
            return Prehashed(md5, snap, part_size, tuple(parts))
        except (OSError, VodwatchError) as exc:
            log.debug("prehash.discarded", file=path.name, why=str(exc))
            return None
        finally:
            self._reading = None

    def take(self, path: Path, now: Identity) -> Prehashed | None:
        """The hash of ``path`` if it was read under identity ``now``; forgets it.

        A hash of that identity being computed is waited for (the caller would
        otherwise read the same bytes again); one still queued behind other files'
        is dropped, so a claim never waits for other files to be read.
        """
        with self._lock:
            work = self._work.pop(path, None)
        if work is None or work[0] != now:
            return None
        reading = self._reading
        if reading is not None and reading != path and work[1].cancel():
            return None  # queued behind another file's read: the caller reads it now
        try:
            result = work[1].result()
        except CancelledError:  # closed at shutdown
            return None
        if result is None or identity(result.snapshot) != now:
            return None
        return result

    def __len__(self) -> int:
        """How many files' hashes are kept or queued."""
        with self._lock:
            return len(self._work)

    def forget(self, path: Path) -> None:
        with self._lock:
            self._work.pop(path, None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def entry_identity(entry: Any) -> Identity:
    """The identity of what a scan or a fresh look saw (a vodwatch.watch.Entry)."""
    return entry.size, entry.mtime_ns, entry.ctime_ns, entry.ino

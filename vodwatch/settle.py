"""Is a file completely written? Pure: stat results and the time go in, keys come out.

A file is settled when vodwatch itself has seen the same (size, mtime_ns, ctime_ns,
inode) for at least ``settle_seconds``, measured between vodwatch's own
observations. The mtime value is only compared, never trusted as a time: a writer
that keeps an old mtime, or closes and reopens the file, cannot make it look
settled. Nor can a writer that sets the final size first, writes in place and puts
the old mtime back after each write (an SMB copy with preserved timestamps): every
write, and every ``utime`` that puts the mtime back, moves the change time (ctime),
which the kernel or the file server sets and a local writer cannot. The first
observation starts the clock, and settling needs a later observation that finds
nothing changed, so a file that was not looked at again is never called settled.

Attributes can be stale: an NFS or SMB client answers ``stat`` from its cache. An
observation made with ``fresh=False`` (a directory scan) may start or restart the
clock, but only a fresh one (the file opened and ``fstat``-ed) can settle a file;
``due`` asks for that fresh look.

What can still fool it: a writer that pauses for longer than ``settle_seconds``
(nothing on disk tells a pause from the end), and a server that lets a client set
the change time (Windows SMB servers accept a ChangeTime in SetFileInformation) or
reports ctime as mtime (some FUSE and SMB servers). For those, the identity check
after hashing (``upload.compare``) and the MD5 remain.

The inode counts only where the filesystem keeps inodes stable. On FUSE or
``noserverino`` SMB mounts a file's inode number can change on every lookup; a file
seen with the same size, mtime and ctime under another inode shows that, and from
then on (after that one look, which still counts as a change) the inode is left
out of the comparison for that folder set (``observe`` says so once), rather than
never calling a file settled.

Change events only make vodwatch look sooner: ``poke`` asks for a fresh stat and
holds the file back until it has one, without restarting its clock.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# How long to wait before another fresh look when the latest look was not fresh.
STALE_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Pending:
    """What the settler knows about one file, for status output."""

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    first_seen: float  # time of the first observation
    stable_since: float  # time of the first observation with the current signature
    last_seen: float  # time of the latest observation
    changes: int  # how many times the signature changed after the first observation
    poked: bool  # a change event arrived after the latest observation
    settled: bool


Signature = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, ino


@dataclass
class _Entry:
    signature: Signature
    first_seen: float
    stable_since: float
    last_seen: float
    last_fresh: float | None  # time of the latest fresh observation, if any
    changes: int = 0
    poked: bool = False


class Settler(Generic[K]):
    """Tracks files until they stop changing.

    ``ready`` does not forget what it returns: call ``forget`` once a file is taken
    (or gone), so it is not returned again.
    """

    def __init__(self, settle_seconds: float, max_writing_seconds: float) -> None:
        if settle_seconds < 0 or max_writing_seconds <= 0:
            raise ValueError("settle_seconds must be >= 0 and max_writing_seconds > 0")
        self.settle_seconds = settle_seconds
        self.max_writing_seconds = max_writing_seconds
        self._entries: dict[K, _Entry] = {}
        self._poked_unknown: dict[K, float] = {}
        self.use_inode = True  # False once this filesystem changed an unchanged file's inode

    def observe(self, key: K, size: int, mtime_ns: int, now: float, ino: int = 0, *,
                ctime_ns: int = 0, fresh: bool = True) -> bool:
        """Record a stat result for ``key`` taken at ``now``.

        ``fresh=False`` for attributes that may come from a cache (a directory scan):
        they can start or restart the clock but not settle the file. True (once) when
        this look shows the filesystem does not keep inodes stable.
        """
        signature = (size, mtime_ns, ctime_ns, ino)
        self._poked_unknown.pop(key, None)
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = _Entry(signature, now, now, now, now if fresh else None)
            return False
        # Only with a known ctime: a file replaced by another (by rename) never has the
        # same change time to the nanosecond, so this is one file under two inodes.
        unstable = (self.use_inode and ctime_ns != 0 and signature[:3] == entry.signature[:3]
                    and signature[3] != entry.signature[3])
        if signature[:3] != entry.signature[:3] or (
                self.use_inode and signature[3] != entry.signature[3]):
            # The look that shows it still counts as a change (the safe side); from then
            # on the inode is left out for every file of the folder set.
            entry.signature = signature
            entry.stable_since = now
            entry.changes += 1
        else:
            entry.signature = signature  # the same file (its inode number may not be kept)
        entry.last_seen = max(entry.last_seen, now)
        if fresh:
            entry.last_fresh = now if entry.last_fresh is None else max(entry.last_fresh, now)
        entry.poked = False
        if unstable:
            self.use_inode = False
        return unstable

    def poke(self, key: K, now: float) -> None:
        """Something changed at ``key``: look again soon; never marks it settled."""
        entry = self._entries.get(key)
        if entry is None:
            self._poked_unknown.setdefault(key, now)
        else:
            entry.poked = True

    def forget(self, key: K) -> None:
        """Stop tracking ``key`` (taken for upload, deleted, or failed)."""
        self._entries.pop(key, None)
        self._poked_unknown.pop(key, None)

    def _settled(self, entry: _Entry) -> bool:
        return (not entry.poked and entry.last_fresh is not None
                and entry.last_fresh - entry.stable_since >= self.settle_seconds)

    def ready(self, now: float) -> list[K]:
        """Keys seen unchanged for at least ``settle_seconds``, the last look a fresh one,
        and not poked since."""
        del now  # readiness rests on observation times only; kept for a uniform API
        return [key for key, entry in self._entries.items() if self._settled(entry)]

    def due(self, now: float) -> list[K]:
        """Keys worth a fresh stat now: poked, or old enough to settle on a fresh look."""
        keys = list(self._poked_unknown)
        for key, entry in self._entries.items():
            if entry.poked or (not self._settled(entry)
                               and now - entry.stable_since >= self.settle_seconds):
                keys.append(key)
        return keys

    def next_check_at(self, now: float) -> float | None:
        """When a fresh stat could settle a file or a file outstays its writing time.

        Never before ``now``; None when nothing is waiting. Settled files do not count:
        ``ready`` already returns them, and one kept waiting (its asset is busy) must
        not make the caller spin. Nor must a file whose look when it was due was not fresh
        (the fresh look failed: EBUSY, EIO, too many open files): it is tried again
        ``STALE_RETRY_SECONDS`` after that look. (``due`` still returns it, so the
        fresh look that follows a scan in the same tick is not delayed.)
        """
        if self._poked_unknown:
            return now
        times: list[float] = []
        for entry in self._entries.values():
            if entry.poked:
                return now
            if self._settled(entry):
                continue
            at = entry.stable_since + self.settle_seconds
            stale = entry.last_fresh is None or entry.last_fresh < entry.last_seen
            if stale and entry.last_seen >= at:
                # The look taken when the file was due was not fresh (the fresh look
                # failed): try again a little later. A scan before that (the first look
                # at start-up) does not hold the fresh look back.
                at = entry.last_seen + STALE_RETRY_SECONDS
            times.append(at)
            times.append(entry.first_seen + self.max_writing_seconds)
        return max(now, min(times)) if times else None

    def writing_too_long(self, now: float) -> list[K]:
        """Keys still not settled ``max_writing_seconds`` after they were first seen."""
        return [key for key, entry in self._entries.items()
                if not self._settled(entry)
                and now - entry.first_seen >= self.max_writing_seconds]

    def pending(self) -> dict[K, Pending]:
        """A snapshot of every tracked key, settled or not."""
        return {
            key: Pending(*entry.signature, first_seen=entry.first_seen,
                         stable_since=entry.stable_since, last_seen=entry.last_seen,
                         changes=entry.changes, poked=entry.poked, settled=self._settled(entry))
            for key, entry in self._entries.items()
        }

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

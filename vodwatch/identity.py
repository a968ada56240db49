"""Is the file still what was hashed and sent? Fresh attributes, hashing with a check of
the descriptor before and after, and the verdict same / content moved / only metadata
moved. The one home of the file's identity.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

from .errors import (
    FileChanged,
    FileVanished,
    Interrupted,
    MetadataChanged,
)
from .group import md5_b64
from .journal import FileRow, PartRow
from .watch import read_attributes

log = structlog.get_logger("vodwatch.upload")

HASH_BLOCK = 4 * 1024 * 1024  # bytes read at a time when hashing



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


def hash_parts(path: Path, part_size: int, stop: threading.Event | None = None
               ) -> tuple[str, Snapshot, list[str]]:
    """As hash_file, and (if ``part_size``) the MD5 of each ``part_size`` piece, all in
    the one read and under the same snapshot."""
    return _hash_path(path, stop, part_size)


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
    (if ``part_size``) the MD5 of each ``part_size`` piece, in one pass: the pieces are
    hashed on a second thread (MD5 runs outside the GIL), one block behind the whole,
    so the pass takes about as long as the whole-file hash alone."""
    whole = hashlib.md5()
    cutter = _Cutter(part_size)
    bufs = (bytearray(HASH_BLOCK), bytearray(HASH_BLOCK) if part_size else bytearray(0))
    helper = ThreadPoolExecutor(1, thread_name_prefix="part-md5") if part_size else None
    behind: Future[None] | None = None
    offset = turn = 0
    try:
        while True:
            if stop is not None and stop.is_set():
                raise Interrupted("stopping")
            buf = bufs[turn % 2 if part_size else 0]
            turn += 1
            n = os.preadv(fd, [buf], offset)
            if not n:
                break
            view = memoryview(buf)[:n]
            if helper is not None:
                if behind is not None:
                    behind.result()  # done with the other buffer, read next into it
                behind = helper.submit(cutter.feed, view)
            whole.update(view)
            offset += n
        if behind is not None:
            behind.result()
    finally:
        if helper is not None:
            helper.shutdown(wait=True)
    return md5_b64(whole.digest()), offset, cutter.finish(offset)


class _Cutter:
    """MD5s of consecutive ``part_size`` pieces of what it is fed."""

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self.parts: list[str] = []
        self._md5 = hashlib.md5()
        self._filled = 0

    def feed(self, view: memoryview) -> None:
        pos, n = 0, len(view)
        while pos < n:
            take = min(self.part_size - self._filled, n - pos)
            self._md5.update(view[pos:pos + take])
            pos += take
            self._filled += take
            if self._filled == self.part_size:
                self.parts.append(md5_b64(self._md5.digest()))
                self._md5, self._filled = hashlib.md5(), 0

    def finish(self, length: int) -> list[str]:
        if self.part_size and (self._filled or not length):
            self.parts.append(md5_b64(self._md5.digest()))
        return self.parts


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


def check_same_bytes(path: Path, row: FileRow, stop: threading.Event | None = None, *,
                     parts: Sequence[PartRow] = ()) -> Snapshot | None:
    """:func:`check_unchanged`, where only metadata moving is not yet a change.

    None: the file is as journaled. A snapshot: only its ctime or inode moved and its
    bytes (and each sent part's, with ``parts``) are still what was hashed and sent; the
    caller journals that snapshot and goes on. FileChanged when the content moved.
    """
    try:
        check_unchanged(path, row)
        return None
    except MetadataChanged:
        snap = rehash_matches(path, row.md5 or "", stop, parts=parts,
                              part_size=row.part_size or 0)
    if snap is None:
        raise FileChanged(f"{row.name} changed while vodwatch was sending it",
                          "it will be sent again once it stays unchanged")
    log.info("file.attributes_changed", file=row.name, verdict="content is the same")
    return snap

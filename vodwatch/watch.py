"""Step 1: a file appears. Change events are hints; the scan of the inbox is the truth.

Events (inotify close-after-write, moved-in, created, modified) only put a path on
a queue so the main loop looks at it sooner. Network shares, where events written
by other machines never arrive, are polled: ``os.scandir`` of the inbox only,
never of ``done/`` or ``failed/``.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import queue
import select
import stat as S
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from .claim import STATE_DIR_NAME

log = structlog.get_logger("vodwatch.watch")

# Filesystems where change events miss writes made by other machines, or where
# inotify does not work at all: poll them.
NETWORK_FS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "glusterfs",
    "lustre", "gpfs", "beegfs", "davfs", "virtiofs", "vboxsf", "vmhgfs", "prl_fs",
})


FILE, DIR, SYMLINK, SPECIAL = "file", "dir", "symlink", "special"


@dataclass(frozen=True)
class Entry:
    """One thing found in the inbox.

    ``fresh`` says the attributes were re-read for a decision (``stat_entry``: open
    and fstat, which makes an NFS or SMB client ask the server) rather than taken
    from a directory scan, which a network client may answer from its cache.
    """

    path: Path
    name: str
    size: int
    mtime_ns: int
    ino: int
    is_file: bool
    is_symlink: bool
    is_dir: bool
    ctime_ns: int = 0
    fresh: bool = False

    @property
    def kind(self) -> str:
        """"file", "dir", "symlink", or "special" (FIFO, socket, device)."""
        if self.is_symlink:
            return SYMLINK
        if self.is_dir:
            return DIR
        return FILE if self.is_file else SPECIAL


def _entry(path: Path, st: os.stat_result, fresh: bool) -> Entry:
    mode = st.st_mode
    return Entry(path, path.name, st.st_size, st.st_mtime_ns, st.st_ino, S.S_ISREG(mode),
                 S.S_ISLNK(mode), S.S_ISDIR(mode), st.st_ctime_ns, fresh)


def filesystem_type(path: Path, mounts: str = "/proc/self/mounts") -> str:
    """The type of the filesystem holding ``path`` (from the mount table), or ''."""
    try:
        target = os.path.realpath(path)
        with open(mounts, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return ""
    best, fstype = "", ""
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = fields[1].replace("\\040", " ")
        if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(
                best):
            best, fstype = mount, fields[2]
    return fstype


def choose_mode(setting: str, inbox: Path, mounts: str = "/proc/self/mounts"
                ) -> tuple[str, str]:
    """('events' | 'polling', why) for a folder set's ``watch`` setting."""
    if setting in ("events", "polling"):
        return setting, f"watch: {setting} in the config"
    fstype = filesystem_type(inbox, mounts)
    if fstype in NETWORK_FS or fstype.startswith("fuse"):
        return "polling", f"the inbox is on a {fstype} filesystem (network or FUSE)"
    return "events", f"the inbox is on a local {fstype or 'unknown'} filesystem"


def scan(inbox: Path, recursive: bool = False, include_dirs: bool = True,
         on_error: Callable[[Path, OSError], None] | None = None) -> Iterator[Entry]:
    """Everything in the inbox, one lstat each; hidden entries and our own folder skipped.

    Cheap on purpose (10,000-file inboxes): the attributes may come from a network
    client's cache, so entries are not ``fresh``; a file is called settled only on a
    ``stat_entry`` look. Sub-folders are yielded (kind "dir") unless ``include_dirs``
    is False; with ``recursive`` their visible contents are scanned either way.
    Raises OSError if the inbox itself cannot be read (share gone). An entry whose
    attributes cannot be read is given to ``on_error`` (which may raise) and skipped;
    without ``on_error`` its error is raised.
    """
    stack = [inbox]
    while stack:
        folder = stack.pop()
        try:
            it = os.scandir(folder)
        except OSError as exc:
            if folder == inbox:
                raise
            log.warning("watch.subfolder_unreadable", folder=str(folder), error=str(exc))
            continue
        with it:
            for entry in it:
                if entry.name == STATE_DIR_NAME:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                except OSError as exc:
                    if on_error is None:
                        raise
                    on_error(Path(entry.path), exc)
                    continue
                is_dir = S.S_ISDIR(st.st_mode)
                if is_dir and recursive and not entry.name.startswith("."):
                    stack.append(Path(entry.path))
                if is_dir and not include_dirs:
                    continue
                yield _entry(Path(entry.path), st, fresh=False)


# Opening only to read attributes: never block (a FIFO swapped in after the lstat, a
# file under a lease held for an SMB client), never follow a link, never become a
# controlling terminal, never leak the descriptor into a child process.
_PROBE_FLAGS = (os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
_GONE = (errno.ENOENT, errno.ENOTDIR)
_UNREADABLE = (errno.EACCES, errno.EPERM)


def read_attributes(path: Path) -> tuple[os.stat_result, bool] | None:
    """Fresh attributes of ``path`` (links not followed) and whether they are fresh.

    ``stat()`` on an NFS or SMB client may answer from its attribute cache; opening
    the file makes the client revalidate (close-to-open consistency), so a regular
    file is opened read-only and ``fstat``-ed. Anything else (link, folder, FIFO,
    socket, device) is never opened: its lstat is all there is, and it is fresh
    enough since it is never read. If the open fails with EACCES or EPERM, the lstat
    is used and counted as fresh (the file must still be seen, to be explained); if
    it fails otherwise (EMFILE, EIO, ESTALE, EBUSY, EWOULDBLOCK for a leased file),
    the lstat is used but is not fresh. None if the path is gone.
    """
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno in _GONE:
            return None
        raise
    if not S.S_ISREG(st.st_mode):
        return st, True
    try:
        fd = os.open(path, _PROBE_FLAGS)
    except OSError as exc:
        if exc.errno in _GONE:
            return None
        try:
            st = os.lstat(path)  # ELOOP: replaced by a link since; report what is there
        except OSError as again:
            if again.errno in _GONE:
                return None
            raise
        return st, exc.errno in _UNREADABLE or not S.S_ISREG(st.st_mode)
    try:
        return os.fstat(fd), True
    finally:
        os.close(fd)


def stat_entry(path: Path) -> Entry | None:
    """Re-read one path's attributes fresh (see ``read_attributes``); None if it is gone."""
    found = read_attributes(path)
    if found is None:
        return None
    st, fresh = found
    return _entry(path, st, fresh)


class EventWatcher:
    """Change events of one inbox become paths on ``hints``.

    A non-recursive inbox on Linux is watched with inotify directly (``_Inotify``);
    otherwise watchdog watches it.
    """

    def __init__(self, inbox: Path, recursive: bool, hints: queue.Queue[Path]) -> None:
        self.inbox = inbox
        self.recursive = recursive
        self.hints = hints
        self._observer: Any = None
        self._inotify: _Inotify | None = None

    def start(self) -> None:
        """Start watching; OSError (e.g. inotify limits reached) means: poll instead."""
        if not self.recursive and _Inotify.available():
            self._inotify = _Inotify(self.inbox, self.hints)
            return
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        hints = self.hints

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                # Opening a file to read it (stat_entry, hashing) is not a change; a
                # hint for it would poke the file again and keep it from settling.
                if event.is_directory or event.event_type in _NOT_A_CHANGE:
                    return
                for attr in ("dest_path", "src_path"):
                    value = getattr(event, attr, "")
                    if value:
                        path = Path(os.fsdecode(value))
                        if STATE_DIR_NAME not in path.parts:
                            hints.put(path)

        observer = Observer()
        observer.daemon = True
        observer.schedule(Handler(), str(self.inbox), recursive=self.recursive)
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        if self._inotify is not None:
            self._inotify.stop()
            self._inotify = None
        if self._observer is not None:
            # watchdog reports events still queued at shutdown as errors; they are not.
            logging.getLogger("watchdog.observers.inotify").setLevel(logging.CRITICAL)
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    @property
    def alive(self) -> bool:
        if self._inotify is not None:
            return self._inotify.alive
        return self._observer is not None and self._observer.is_alive()


_NOT_A_CHANGE = frozenset({"opened", "closed_no_write"})  # watchdog event types

# inotify(7) constants
_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE = 0x2, 0x4, 0x8
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_IGNORED, _IN_ONLYDIR, _IN_ISDIR = 0x8000, 0x01000000, 0x40000000
_IN_MASK = (_IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO
            | _IN_CREATE | _IN_DELETE | _IN_ONLYDIR)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name


class _Inotify:
    """One folder (not its sub-folders) watched with Linux inotify, on its own thread.

    Not watchdog here: watchdog holds every IN_MOVED_FROM for 0.5 s to pair it with
    an IN_MOVED_TO, and every later event waits behind it in one queue, so each
    claim (a rename out of the inbox) made the next files' events up to 0.5 s late.
    Events are only hints; pairs are not needed.
    """

    _libc: Any = None

    @classmethod
    def available(cls) -> bool:
        if cls._libc is None and sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            if hasattr(libc, "inotify_init1") and hasattr(libc, "inotify_add_watch"):
                cls._libc = libc
        return cls._libc is not None

    def __init__(self, folder: Path, hints: queue.Queue[Path]) -> None:
        self.folder = folder
        self.hints = hints
        fd = self._libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        if self._libc.inotify_add_watch(fd, os.fsencode(folder), _IN_MASK) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"inotify_add_watch: {os.strerror(err)}", str(folder))
        self._fd = fd
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="inotify", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self._fd, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                continue
            pos = 0
            while pos + _EVENT.size <= len(data):
                _, mask, _, length = _EVENT.unpack_from(data, pos)
                name = data[pos + _EVENT.size:pos + _EVENT.size + length].rstrip(b"\0")
                pos += _EVENT.size + length
                if mask & _IN_IGNORED:
                    return  # the folder itself went away; the scans notice
                if name and not mask & _IN_ISDIR and name != STATE_DIR_NAME.encode():
                    self.hints.put(self.folder / os.fsdecode(name))

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._fd, self._wake_r, self._wake_w):
            os.close(fd)

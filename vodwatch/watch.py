"""Step 1: a file appears. Change events are hints; the scan of the inbox is the truth.

Events (inotify close-after-write, moved-in, created, modified) only put a path on
a queue so the main loop looks at it sooner. Network shares, where events written
by other machines never arrive, are polled: ``os.scandir`` of the inbox only,
never of ``done/`` or ``failed/``.
"""

from __future__ import annotations

import logging
import os
import queue
from collections.abc import Iterator
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


@dataclass(frozen=True)
class Entry:
    """One thing found in the inbox."""

    path: Path
    name: str
    size: int
    mtime_ns: int
    ino: int
    is_file: bool
    is_symlink: bool
    is_dir: bool


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


def scan(inbox: Path, recursive: bool = False) -> Iterator[Entry]:
    """Everything in the inbox, one stat each; hidden entries and our own folder skipped.

    Raises OSError if the inbox itself cannot be read (share gone).
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
                    is_link = entry.is_symlink()
                    is_dir = entry.is_dir(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if is_dir and recursive and not entry.name.startswith("."):
                    stack.append(Path(entry.path))
                yield Entry(Path(entry.path), entry.name, st.st_size, st.st_mtime_ns,
                            st.st_ino, entry.is_file(follow_symlinks=False), is_link, is_dir)


def stat_entry(path: Path) -> Entry | None:
    """Re-stat one path; None if it is gone."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    import stat as S

    return Entry(path, path.name, st.st_size, st.st_mtime_ns, st.st_ino, S.S_ISREG(st.st_mode),
                 S.S_ISLNK(st.st_mode), S.S_ISDIR(st.st_mode))


class EventWatcher:
    """watchdog on one inbox; events become paths on ``hints``."""

    def __init__(self, inbox: Path, recursive: bool, hints: queue.Queue[Path]) -> None:
        self.inbox = inbox
        self.recursive = recursive
        self.hints = hints
        self._observer: Any = None

    def start(self) -> None:
        """Start watching; OSError (e.g. inotify limits reached) means: poll instead."""
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        hints = self.hints

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.is_directory:
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
        if self._observer is not None:
            # watchdog reports events still queued at shutdown as errors; they are not.
            logging.getLogger("watchdog.observers.inotify").setLevel(logging.CRITICAL)
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    @property
    def alive(self) -> bool:
        return self._observer is not None and self._observer.is_alive()

"""A pause people ask for: by ``vodwatch pause``, the web page, or a ``PAUSE`` file.

The pause lives on the share, not in one daemon: ``<inbox>/.vodwatch/pause.json``
(who, since, why), so every daemon on that folder set stops taking new work, and
it survives restarts. A producer can also drop a file named ``PAUSE`` or
``PAUSE.txt`` (any case) in the inbox and remove it to resume; that file itself
is never uploaded nor failed. A marker wins over a PAUSE file when both are there.

This is a different pause from the one the daemon takes on its own when VOD
rejects the credentials: that one lifts when VOD accepts them again, this one
only when someone resumes.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import FolderSet
from .share import STATE_DIR_NAME
from .words import printable

PAUSE_FILE_NAMES = frozenset({"pause", "pause.txt"})
MARKER_NAME = "pause.json"
BY_FILE = "PAUSE file"


def is_pause_file(name: str) -> bool:
    """True for ``PAUSE`` / ``PAUSE.txt`` in any case: seen, never uploaded."""
    return name.lower() in PAUSE_FILE_NAMES


# The spellings a producer types; any other case is found by the next scan of the inbox.
_COMMON_SPELLINGS = ("PAUSE", "PAUSE.txt", "PAUSE.TXT", "pause", "pause.txt", "Pause",
                     "Pause.txt")


def likely_pause_files(inbox: Path) -> list[Path]:
    """The PAUSE files spelled the usual ways (a few stats, not a listing of the inbox)."""
    return [inbox / name for name in _COMMON_SPELLINGS if (inbox / name).is_file()]


def marker_path(inbox: Path) -> Path:
    return Path(inbox) / STATE_DIR_NAME / MARKER_NAME


def who_am_i() -> str:
    """user@host of whoever runs this command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class ManualPause:
    """Who paused a folder set, since when (wall-clock seconds) and why."""

    who: str
    since: float
    why: str = ""

    @property
    def reason(self) -> str:
        return f"paused by {self.who}"

    def as_dict(self) -> dict[str, Any]:
        return {"who": printable(self.who), "since": self.since, "why": printable(self.why),
                "reason": printable(self.reason)}

    @classmethod
    def from_dict(cls, data: Any) -> ManualPause | None:
        if not isinstance(data, dict):
            return None
        return cls(str(data.get("who") or "someone"), float(data.get("since") or 0.0),
                   str(data.get("why") or ""))


def read_marker(inbox: Path) -> ManualPause | None:
    """The share's pause marker; a damaged one still pauses (said so in ``why``)."""
    path = marker_path(inbox)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        found = ManualPause.from_dict(data)
        if found is not None:
            return found
    except (ValueError, TypeError):
        pass
    since = path.stat().st_mtime
    return ManualPause("someone", since, f"{path} is damaged; 'vodwatch resume' removes it")


def write_marker(inbox: Path, who: str, why: str = "", now: float | None = None) -> ManualPause:
    """Pause the folder set of ``inbox`` (atomically replaced; the inbox must exist)."""
    pause = ManualPause(who, time.time() if now is None else now, why)
    path = marker_path(inbox)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{MARKER_NAME}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps({"who": pause.who, "since": pause.since, "why": pause.why}))
    os.replace(tmp, path)
    return pause


def pause_files(inbox: Path) -> list[Path]:
    """The PAUSE files in the inbox now (one listing)."""
    with os.scandir(inbox) as it:
        return [Path(e.path) for e in it
                if is_pause_file(e.name) and e.is_file(follow_symlinks=False)]


def resume(inbox: Path) -> list[str]:
    """Lift the pause: remove the marker and any PAUSE file; returns what was removed."""
    removed = []
    for path in [marker_path(inbox), *pause_files(inbox)]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    return removed


def current(marker: ManualPause | None, files: Iterable[Path]) -> ManualPause | None:
    """Pure: the pause in force given the marker and the PAUSE files seen."""
    if marker is not None:
        return marker
    since = None
    for path in files:
        with contextlib.suppress(OSError):
            mtime = path.stat().st_mtime
            since = mtime if since is None else min(since, mtime)
    if since is None:
        return None
    return ManualPause(BY_FILE, since, "a PAUSE file is in the inbox; remove it to resume")


def read_state(inbox: Path) -> ManualPause | None:
    """The pause in force for ``inbox``, read from the share (marker and listing)."""
    try:
        return current(read_marker(inbox), pause_files(inbox))
    except OSError:
        return None


class MarkerWatch:
    """The marker of one inbox, re-read only when its stat changes (one stat per turn)."""

    def __init__(self) -> None:
        self._key: tuple[int, int, int] | None = None
        self._value: ManualPause | None = None

    def read(self, inbox: Path) -> ManualPause | None:
        try:
            st = marker_path(inbox).stat()
        except OSError:
            self._key, self._value = None, None
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._key:
            try:
                self._value = read_marker(inbox)
            except OSError:
                return self._value
            self._key = key
        return self._value


def match(folders: Sequence[FolderSet], wanted: str | None) -> list[FolderSet]:
    """The folder sets ``wanted`` names (label, name or inbox path); all when None."""
    if not wanted:
        return list(folders)
    found = [folder_set for folder_set in folders if wanted in (folder_set.label, folder_set.name)]
    if not found:
        with contextlib.suppress(OSError, ValueError):
            target = Path(wanted).expanduser().absolute()
            found = [folder_set for folder_set in folders
                     if Path(folder_set.inbox).absolute() == target]
    return found


class AnyEvent(threading.Event):
    """Set when itself or any of ``others`` is: the uploads' "no new parts" for one
    folder set (the daemon stopping, or the folder set paused)."""

    def __init__(self, *others: threading.Event) -> None:
        super().__init__()
        self._others = others

    def is_set(self) -> bool:
        return super().is_set() or any(o.is_set() for o in self._others)


def run_pause(folders: Sequence[FolderSet], wanted: str | None, *, resume_it: bool,
              why: str = "", who: str | None = None, out: Any = None) -> int:
    """``vodwatch pause`` / ``resume``: 0 done, 2 no such folder set, 1 a share refused."""
    import sys

    out = sys.stdout if out is None else out
    chosen = match(folders, wanted)
    if not chosen:
        known = ", ".join(folder_set.label for folder_set in folders) or "none configured"
        print(f"vodwatch: no folder set is called {printable(wanted or '')} (known: "
              f"{printable(known)}; or give the inbox path)", file=sys.stderr)
        return 2
    code = 0
    for folder_set in chosen:
        try:
            if resume_it:
                removed = resume(folder_set.inbox)
                said = f"resumed ({', '.join(removed)} removed)" if removed else "was not paused"
            else:
                held = write_marker(folder_set.inbox, who or who_am_i(), why)
                said = f"{held.reason}; it takes no new work (within 2 s, on every daemon)"
        except OSError as exc:
            print(f"vodwatch: cannot change the pause of {printable(folder_set.label)} in "
                  f"{folder_set.inbox}: {exc.strerror or exc} (is the share mounted and writable "
                  "by this user?)", file=sys.stderr)
            code = 1
            continue
        print(f"{printable(folder_set.label)}: {said}", file=out)
    return code

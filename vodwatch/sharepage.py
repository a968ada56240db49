"""The status page on the share, written: each daemon's part, then the page
rendered from all parts (sharepage_render.py), both replaced atomically.

Several daemons may serve one folder set. Each writes only its own *part*
(``parts_dir/<daemon_id>.json``: its latest view plus when it was last alive) and
then renders the page from all parts, so no daemon overwrites another's news. A
part whose last sign of life is older than ``stale_after`` seconds counts as
stopped: the daemon was killed or lost the share.

Liveness is kept apart from the news: :class:`SharePage` refreshes ``alive_at``
in its part every ``stale_after / 4`` seconds even when the view is unchanged,
which rewrites the small part file but not the page.

Encoding: UTF-8 with a byte order mark and LF line endings. Notepad reads LF
since Windows 10 1809, and TextEdit and every other editor always have; CRLF
would only add ``^M`` noise elsewhere. The BOM is what makes older Notepad (which
guessed the ANSI code page for files without one) and some Windows viewers show
accents, CJK and the ✓/✗ marks correctly; every reader that matters skips it.

Both files are replaced atomically: a hidden temporary file in the same folder
(``.<name>.<daemon_id>.tmp``), written, fsynced, then ``os.replace``: a reader
sees the old page or the new one, never a partial or empty one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any

from .atomic import replace_file
from .sharepage_render import DASH, FILE_STATE_ORDER, LATEST, as_number, render

__all__ = ["BOM", "DASH", "FILE_STATE_ORDER", "LATEST", "SharePage", "render"]

NAME_MAX = 255
BOM = "\ufeff"


def _temp_name(target: Path, daemon_id: str) -> Path:
    name = f".{target.name}.{daemon_id}.tmp"
    if len(os.fsencode(name)) > NAME_MAX:
        name = f".vodwatch-{daemon_id}.tmp"[:NAME_MAX]
    return target.with_name(name)


def _replace(target: Path, data: bytes, daemon_id: str) -> None:
    """Put ``data`` at ``target`` atomically (vodwatch.atomic)."""
    del daemon_id  # the temporary name is unique without it
    replace_file(target, data)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _encode_part(part: Mapping[str, Any]) -> bytes:
    # surrogateescape'd names survive as \udcXX escapes in JSON (ensure_ascii).
    return (json.dumps(part, sort_keys=True, indent=1) + "\n").encode("ascii")


class SharePage:
    """The live status page of one folder set, as this daemon sees it.

    ``update(view)`` is called by the daemon whenever its view may have changed,
    and at least every ``stale_after / 2`` seconds while it runs (else other
    daemons, and this one, take it for stopped). The view::

        {"state": "working" | "paused" | "unavailable" | "stopped",
         "why": str | None,
         "files": [{"name", "state", "size", "position", "percent",
                    "rate_bytes_per_s", "eta_s", "why", "retry_at"}, ...],
         "not_handled": {name: why},
         "recent": [{"at", "file", "outcome", "detail", "asset_id", "error_file"?}, ...],
         "updated_at": float}

    ``updated_at`` should be the time the news last changed: the page's
    "updated" time is the newest of them, and liveness is kept separately.
    """

    def __init__(self, page: Path, parts_dir: Path, daemon_id: str, *, folder_label: str,
                 clock: Callable[[], float] = time.time, tz: tzinfo | None = None,
                 stale_after: float = 120.0) -> None:
        if not daemon_id or "/" in daemon_id or daemon_id.startswith(".") or "\0" in daemon_id:
            raise ValueError(f"not usable as a file name: {daemon_id!r}")
        self.page = Path(page)
        self.parts_dir = Path(parts_dir)
        self.daemon_id = daemon_id
        self.folder_label = folder_label
        self.clock = clock
        self.tz = tz
        self.stale_after = stale_after
        self.last_error: str | None = None
        self._part_path = self.parts_dir / f"{daemon_id}.json"
        self._view: dict[str, Any] = {"state": "working", "files": [], "not_handled": {},
                                      "recent": []}
        self._alive_at: float | None = None
        self._stopped_at: float | None = None
        self._lock = threading.Lock()

    def update(self, view: dict[str, Any]) -> bool:
        """Write this daemon's part (parts_dir/<daemon_id>.json, atomically, only if it changed)
        and re-render the merged page from all parts (atomically, only if the text changed).
        Returns True if the page file was rewritten. Never raises OSError: a share that refuses
        is reported by returning False and remembering `self.last_error` (str | None)."""
        with self._lock:
            self._view = dict(view)
            stopped = view.get("state") == "stopped"
            if not stopped:
                self._stopped_at = None
            elif self._stopped_at is None:
                self._stopped_at = as_number(view.get("stopped_at")) or as_number(
                    view.get("updated_at")) or self.clock()
            return self._publish()

    def stopped(self) -> None:
        """Mark this daemon's part stopped (with the time) and re-render."""
        with self._lock:
            now = self.clock()
            self._view = {**self._view, "state": "stopped", "why": None, "updated_at": now}
            self._stopped_at = now
            self._publish()

    # ---- internals (called with the lock held) -------------------------------------------

    def _part(self, alive_at: float) -> dict[str, Any]:
        part = {**self._view, "daemon_id": self.daemon_id, "alive_at": alive_at}
        part["stopped_at"] = self._stopped_at
        return part

    def _publish(self) -> bool:
        try:
            written = self._write_all()
        except (OSError, ValueError, TypeError) as exc:
            # ValueError/TypeError: a view that is not JSON (a NaN, an object); still no crash.
            self.last_error = self._explain(exc)
            return False
        self.last_error = None
        return written

    def _explain(self, exc: BaseException) -> str:
        if isinstance(exc, FileNotFoundError) and not self.page.parent.is_dir():
            return f"the folder for the status page does not exist: {self.page.parent}"
        if isinstance(exc, FileNotFoundError) and not self.parts_dir.parent.is_dir():
            return ("the inbox's hidden folder is not there (is the share mounted?): "
                    f"{self.parts_dir.parent}")
        if isinstance(exc, OSError):
            where = exc.filename or self.page
            return f"could not write the status page ({exc.strerror or exc}): {where}"
        return f"could not write the status page: {exc}"

    def _write_all(self) -> bool:
        if not self.page.parent.is_dir():  # an unmounted share: never create its folders
            raise FileNotFoundError(2, "No such directory", str(self.page.parent))
        # Only ever the last folder: its parent (the inbox's hidden folder, which the daemon
        # makes when the share is there) missing means the share is away, and an empty
        # mount point must get no inbox and no page (the page's folder may still be there).
        self.parts_dir.mkdir(exist_ok=True)
        now = self.clock()
        own = _read(self._part_path)
        alive_at = now
        if own is not None and self._alive_at is not None \
                and now - self._alive_at < self.stale_after / 4:
            alive_at = self._alive_at  # still fresh: the part only changes with the news
        data = _encode_part(self._part(alive_at))
        if data != own:
            _replace(self._part_path, data, self.daemon_id)
        self._alive_at = alive_at

        written = False
        seen: dict[str, bytes] | None = None
        for _ in range(3):  # another daemon may replace the page from older parts meanwhile
            raw = self._read_parts()
            if raw == seen:
                break
            seen = raw
            parts = [p for blob in raw.values() if (p := _decode_part(blob)) is not None]
            text = render(parts, self.clock(), self.tz, self.folder_label,
                          stale_after=self.stale_after)
            page = (BOM + text).encode("utf-8", "backslashreplace")
            if _read(self.page) != page:
                if not self.parts_dir.is_dir():  # unmounted meanwhile: keep out
                    raise FileNotFoundError(2, "No such directory", str(self.parts_dir))
                _replace(self.page, page, self.daemon_id)
                written = True
        return written

    def _read_parts(self) -> dict[str, bytes]:
        raw: dict[str, bytes] = {}
        with os.scandir(self.parts_dir) as entries:
            names = sorted(e.name for e in entries
                           if e.name.endswith(".json") and not e.name.startswith("."))
        for name in names:
            try:
                data = _read(self.parts_dir / name)
            except OSError:
                continue  # another daemon's part that cannot be read: not this one's problem
            if data is not None:
                raw[name] = data
        return raw


def _decode_part(blob: bytes) -> dict[str, Any] | None:
    try:
        part = json.loads(blob)
    except ValueError:
        return None
    return part if isinstance(part, dict) else None

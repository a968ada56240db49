"""The status page on the share: what an editor reads in Explorer or Finder.

One plain-text page per folder set, beside the editor's folders (SPEC §6a): the
folder set's state in one sentence, every file in the inbox with its state in
words, what will not be handled and why, and the latest results in local time.

Several daemons may serve one folder set. Each writes only its own *part*
(``parts_dir/<daemon_id>.json``: its latest view plus when it was last alive) and
then renders the page from all parts, so no daemon overwrites another's news. A
part whose last sign of life is older than ``stale_after`` seconds counts as
stopped: the daemon was killed or lost the share.

The page is written so that it only changes when the news changes: no "N seconds
ago", absolute local times only, merged lists sorted, and the title's "updated"
time is the newest ``updated_at`` among the parts (the time the news last
changed, as the daemon says), never the time of rendering. Liveness is kept
apart from the news: :class:`SharePage` refreshes ``alive_at`` in its part every
``stale_after / 4`` seconds even when the view is unchanged, which rewrites the
small part file but not the page.

Encoding: UTF-8 with a byte order mark and LF line endings. Notepad reads LF
since Windows 10 1809, and TextEdit and every other editor always have; CRLF
would only add ``^M`` noise elsewhere. The BOM is what makes older Notepad (which
guessed the ANSI code page for files without one) and some Windows viewers show
accents, CJK and the ✓/✗ marks correctly; every reader that matters skips it.

Both files are replaced atomically: a hidden temporary file in the same folder
(``.<name>.<daemon_id>.tmp``), written, fsynced, then ``os.replace``: a reader
sees the old page or the new one, never a partial or empty one.

Every string from a view (file names, reasons, the label) goes through
:func:`vodwatch.words.printable`: no control character or bidi override reaches
the page.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from .finish import error_file_for
from .words import printable

__all__ = ["BOM", "DASH", "FILE_STATE_ORDER", "LATEST", "SharePage", "render"]

LATEST = 20  # how many results the page lists
NAME_MAX = 255
BOM = "\ufeff"

# A file reported by several daemons shows its most advanced state.
FILE_STATE_ORDER = ("uploading", "moving", "waiting", "queued", "copying", "paused")
_RANK = {state: i for i, state in enumerate(FILE_STATE_ORDER)}

_ORDINAL = {1: "st", 2: "nd", 3: "rd"}
# The en dash the page uses between phrases, written as an escape so no linter mistakes it.
DASH = "\u2013"


# ---- reading view data defensively (parts may come from other versions) --------------------


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: object) -> str:
    return printable(value) if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


# ---- words for times, sizes and speeds -----------------------------------------------------


def _local(at: float, tz: tzinfo | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(at, tz) if tz else datetime.fromtimestamp(at).astimezone()
    except (OverflowError, ValueError, OSError):
        return None


def _clock(at: float | None, tz: tzinfo | None, day: str) -> str:
    """``14:07``, or ``14:07 on 2024-05-02`` when not on ``day`` (the page's date)."""
    when = None if at is None else _local(at, tz)
    if when is None:
        return "--:--"
    date = when.strftime("%Y-%m-%d")
    return when.strftime("%H:%M") + ("" if date == day else f" on {date}")


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return "1 byte" if int(n) == 1 else f"{int(n)} bytes"


def _rate(bytes_per_s: float) -> str:
    return f"{_size(bytes_per_s)}/s".replace(" bytes/s", " B/s")


def _left(seconds: float) -> str:
    if seconds < 60:
        return "less than a minute left"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min left"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes:02d} min left"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else _ORDINAL.get(n % 10, "th")
    return f"{n}{suffix}"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


# ---- merging the parts ---------------------------------------------------------------------


def _last_alive(part: Mapping[str, Any]) -> float:
    times = [t for t in (_num(part.get("updated_at")), _num(part.get("alive_at")))
             if t is not None]
    return max(times, default=0.0)


def _is_live(part: Mapping[str, Any], now: float, stale_after: float) -> bool:
    return part.get("state") != "stopped" and now - _last_alive(part) <= stale_after


def _stopped_at(part: Mapping[str, Any]) -> float:
    if part.get("state") == "stopped":
        at = _num(part.get("stopped_at"))
        if at is not None:
            return at
    return _last_alive(part)


def _folder_state(parts: Sequence[Mapping[str, Any]], live: list[bool], day: str,
                  tz: tzinfo | None) -> list[str]:
    states = [p.get("state") for p, alive in zip(parts, live, strict=True) if alive]
    if not parts:
        return ["No news from the upload service yet."]
    if "working" in states:
        return ["Working: files dropped here are uploaded."]
    if not states:
        last = max(_stopped_at(p) for p in parts)
        return [f"Stopped at {_clock(last, tz, day)}: files dropped here wait until the "
                "upload service runs again."]
    lines: set[tuple[int, str]] = set()
    for part, alive in zip(parts, live, strict=True):
        if not alive:
            continue
        why = _sentence(_text(part.get("why")))
        if part.get("state") == "unavailable":
            lines.add((0, f"Not available: {why}" if why else "Not available."))
        else:
            lines.add((1, f"Paused: {why}" if why else "Paused."))
    return [line for _, line in sorted(lines)]


def _merged_files(parts: Sequence[Mapping[str, Any]], live: list[bool]) -> list[dict[str, Any]]:
    """One entry per name; a daemon that is not live knows its files only as paused."""
    best: dict[str, tuple[tuple[int, int, float, str], dict[str, Any]]] = {}
    for part, alive in zip(parts, live, strict=True):
        for item in _items(part.get("files")):
            name = item.get("name")
            if not isinstance(name, str):
                continue
            entry = dict(item)
            if not alive:
                entry = {"name": name, "state": "paused", "size": item.get("size")}
            rank = _RANK.get(str(entry.get("state")), len(_RANK))
            key = (rank, 0 if alive else 1, -_last_alive(part), str(part.get("daemon_id", "")))
            if name not in best or key < best[name][0]:
                best[name] = (key, entry)

    def order(entry: dict[str, Any]) -> tuple[int, float, str]:
        position = _num(entry.get("position")) if entry.get("state") == "queued" else None
        return (_RANK.get(str(entry.get("state")), len(_RANK)),
                math.inf if position is None else position, printable(entry["name"]))

    return sorted((entry for _, entry in best.values()), key=order)


def _file_words(entry: Mapping[str, Any], tz: tzinfo | None, day: str) -> str:
    state = entry.get("state")
    why = _text(entry.get("why")).strip().rstrip(".")
    if state == "copying":
        return f"still being copied {DASH} waits until the copy is finished"
    if state == "queued":
        position = _num(entry.get("position"))
        if position is None or position < 1:
            return "queued"
        return "queued (next in line)" if position == 1 else \
            f"queued ({_ordinal(int(position))} in line)"
    if state == "uploading":
        words = "uploading"
        percent, rate, eta = (_num(entry.get(k)) for k in ("percent", "rate_bytes_per_s",
                                                          "eta_s"))
        if percent is not None:
            words += f" {int(min(max(percent, 0.0), 100.0))} %"
        if rate is not None and rate > 0:
            words += f" at {_rate(rate)}"
        if eta is not None and eta >= 0:
            words += f", {_left(eta)}"
        return words
    if state == "waiting":
        retry_at = _num(entry.get("retry_at"))
        words = "waiting to try again" if retry_at is None else \
            f"waiting to try again at {_clock(retry_at, tz, day)}"
        return f"{words}: {why}" if why else words
    if state == "moving":
        return f"delivered, waiting to be moved ({why})" if why else \
            "delivered, being moved to done"
    if state == "paused":
        return f"paused: {why}" if why else "paused"
    return _text(state) or "unknown"


def _not_handled(parts: Sequence[Mapping[str, Any]], live: list[bool]) -> list[tuple[str, str]]:
    """Every name with its reason; a live daemon's reason wins, then the lowest daemon id."""
    reasons: dict[str, tuple[tuple[int, str], str]] = {}
    for part, alive in zip(parts, live, strict=True):
        for name, why in _mapping(part.get("not_handled")).items():
            if not isinstance(name, str):
                continue
            key = (0 if alive else 1, str(part.get("daemon_id", "")))
            if name not in reasons or key < reasons[name][0]:
                reasons[name] = (key, _sentence(_text(why)))
    return sorted((printable(name), why) for name, (_, why) in reasons.items())


def _latest(parts: Iterable[Mapping[str, Any]], limit: int) -> list[Mapping[str, Any]]:
    seen: dict[tuple[float, str, str, str, str], Mapping[str, Any]] = {}
    for part in parts:
        for item in _items(part.get("recent")):
            at, name = _num(item.get("at")), item.get("file")
            if at is None or not isinstance(name, str):
                continue
            key = (-at, name, str(item.get("outcome")), str(item.get("asset_id", "")),
                   str(item.get("detail", "")))
            seen.setdefault(key, item)
    return [seen[key] for key in sorted(seen)[:limit]]


def _result_line(item: Mapping[str, Any], tz: tzinfo | None, day: str) -> str:
    name = item["file"]
    detail = _sentence(_text(item.get("detail")))
    detail = f" {detail[:1].upper()}{detail[1:]}" if detail else ""
    asset = _text(item.get("asset_id"))
    start = f"{_clock(_num(item.get('at')), tz, day)}  "
    if item.get("outcome") == "done":
        to = f" to asset {asset}" if asset else ""
        return f"{start}✓ {printable(name)}: Delivered{to}.{detail}"
    error_file = printable(error_file_for(Path("failed") / name.replace("/", "_")).name)
    return f"{start}✗ {printable(name)}: FAILED {DASH} see failed/{error_file}.{detail}"


def render(parts: list[dict[str, Any]], now: float, tz: tzinfo | None = None, label: str = "",
           *, stale_after: float = 120.0, latest: int = LATEST) -> str:
    """The page's text (without BOM) for ``parts`` as seen at ``now``. Pure.

    A part is a view (see :class:`SharePage`) plus ``daemon_id``, ``alive_at`` and
    ``stopped_at``; a bare view is a valid part. ``tz`` is the local zone (``None``:
    the machine's). ``now`` only decides which parts are stale: the same parts
    render the same text for as long as none goes stale.
    """
    ordered = sorted(parts, key=lambda p: (str(p.get("daemon_id", "")), -_last_alive(p)))
    live = [_is_live(p, now, stale_after) for p in ordered]
    updated = max((t for p in ordered if (t := _num(p.get("updated_at"))) is not None),
                  default=None)
    when = None if updated is None else _local(updated, tz)
    day = when.strftime("%Y-%m-%d") if when else ""
    title = f"Upload status {DASH} {printable(label)}" if label else "Upload status"
    if when:
        title += f" {DASH} updated {when.strftime('%H:%M:%S %Z').strip()} ({day})"

    lines = [title, "", *_folder_state(ordered, live, day, tz), "", "Files in the inbox:"]
    files = _merged_files(ordered, live)
    for entry in files:
        size = _num(entry.get("size"))
        shown = printable(entry["name"]) + (f" ({_size(size)})" if size is not None else "")
        lines.append(f"  {shown}: {_file_words(entry, tz, day)}")
    if not files:
        lines.append("  none")

    skipped = _not_handled(ordered, live)
    if skipped:
        lines += ["", "Not handled (these stay where they are):"]
        lines += [f"  {name}: {why}" if why else f"  {name}" for name, why in skipped]

    lines += ["", f"Latest results (newest first, at most {latest}):"]
    results = _latest(ordered, latest)
    lines += [f"  {_result_line(item, tz, day)}" for item in results] or ["  none yet"]
    lines += ["", "This page is rewritten by the upload service; changes made to it are lost.",
              ""]
    return "\n".join(lines)


# ---- writing the files ---------------------------------------------------------------------


def _temp_name(target: Path, daemon_id: str) -> Path:
    name = f".{target.name}.{daemon_id}.tmp"
    if len(os.fsencode(name)) > NAME_MAX:
        name = f".vodwatch-{daemon_id}.tmp"[:NAME_MAX]
    return target.with_name(name)


def _replace(target: Path, data: bytes, daemon_id: str) -> None:
    """Put ``data`` at ``target`` atomically: hidden temp file, fsync, rename."""
    tmp = _temp_name(target, daemon_id)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            with contextlib.suppress(OSError):  # some network filesystems refuse modes
                os.fchmod(fd, 0o644)  # editors on the share read it
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
         "recent": [{"at", "file", "outcome", "detail", "asset_id"}, ...],
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
                self._stopped_at = _num(view.get("stopped_at")) or _num(
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
        if isinstance(exc, OSError):
            where = exc.filename or self.page
            return f"could not write the status page ({exc.strerror or exc}): {where}"
        return f"could not write the status page: {exc}"

    def _write_all(self) -> bool:
        if not self.page.parent.is_dir():  # an unmounted share: never create its folders
            raise FileNotFoundError(2, "No such directory", str(self.page.parent))
        self.parts_dir.mkdir(parents=True, exist_ok=True)
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

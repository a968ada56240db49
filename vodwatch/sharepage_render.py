"""The status page's text: what an editor reads in Explorer or Finder. Pure.

One plain-text page per folder set, beside the editor's folders (SPEC §6a): the
folder set's state in one sentence, every file in the inbox with its state in
words, what will not be handled and why, and the latest results in local time.
:func:`render` merges the parts of every daemon serving the folder set (see
sharepage.py, which writes them); a part whose last sign of life is older than
``stale_after`` seconds counts as stopped.

The text only changes when the news changes: no "N seconds ago", absolute local
times only, merged lists sorted, and the title's "updated" time is the newest
``updated_at`` among the parts (the time the news last changed, as the daemon
says), never the time of rendering.

Every string from a view (file names, reasons, the label) goes through
:func:`vodwatch.words.printable`: no control character or bidi override reaches
the page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from .finish import error_file_for
from .words import printable

__all__ = ["DASH", "FILE_STATE_ORDER", "LATEST", "as_number", "render"]

LATEST = 20  # how many results the page lists

# A file reported by several daemons shows its most advanced state.
FILE_STATE_ORDER = ("uploading", "moving", "waiting", "queued", "copying", "paused")
_RANK = {state: i for i, state in enumerate(FILE_STATE_ORDER)}

_ORDINAL = {1: "st", 2: "nd", 3: "rd"}
# The en dash the page uses between phrases, written as an escape so no linter mistakes it.
DASH = "\u2013"


# ---- reading view data defensively (parts may come from other versions) --------------------


def as_number(value: object) -> float | None:
    """A finite number from a view, else None (a part may come from another version)."""
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
    times = [t for t in (as_number(part.get("updated_at")), as_number(part.get("alive_at")))
             if t is not None]
    return max(times, default=0.0)


def _is_live(part: Mapping[str, Any], now: float, stale_after: float) -> bool:
    return part.get("state") != "stopped" and now - _last_alive(part) <= stale_after


def _stopped_at(part: Mapping[str, Any]) -> float:
    if part.get("state") == "stopped":
        at = as_number(part.get("stopped_at"))
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
        position = as_number(entry.get("position")) if entry.get("state") == "queued" else None
        return (_RANK.get(str(entry.get("state")), len(_RANK)),
                math.inf if position is None else position, printable(entry["name"]))

    return sorted((entry for _, entry in best.values()), key=order)


def _file_words(entry: Mapping[str, Any], tz: tzinfo | None, day: str) -> str:
    state = entry.get("state")
    why = _text(entry.get("why")).strip().rstrip(".")
    if state == "copying":
        return f"still being copied {DASH} waits until the copy is finished"
    if state == "queued":
        position = as_number(entry.get("position"))
        if position is None or position < 1:
            return "queued"
        return "queued (next in line)" if position == 1 else \
            f"queued ({_ordinal(int(position))} in line)"
    if state == "uploading":
        words = "uploading"
        percent, rate, eta = (as_number(entry.get(k)) for k in ("percent", "rate_bytes_per_s",
                                                          "eta_s"))
        if percent is not None:
            words += f" {int(min(max(percent, 0.0), 100.0))} %"
        if rate is not None and rate > 0:
            words += f" at {_rate(rate)}"
        if eta is not None and eta >= 0:
            words += f", {_left(eta)}"
        return words
    if state == "waiting":
        retry_at = as_number(entry.get("retry_at"))
        words = "waiting to try again" if retry_at is None else \
            f"waiting to try again at {_clock(retry_at, tz, day)}"
        return f"{words}: {why}" if why else words
    if state == "moving" and entry.get("to") == "failed":
        return f"failed, waiting to be moved to failed ({why})" if why else \
            "failed, being moved to failed"
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
            at, name = as_number(item.get("at")), item.get("file")
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
    start = f"{_clock(as_number(item.get('at')), tz, day)}  "
    if item.get("outcome") == "done":
        to = f" to asset {asset}" if asset else ""
        return f"{start}✓ {printable(name)}: Delivered{to}.{detail}"
    # The error file beside the name the file got in failed/ (`notes (2).doc` when
    # `notes.doc` was taken), if the view says it; else beside the inbox name.
    kept = item.get("error_file")
    error_file = printable(kept if isinstance(kept, str) and kept else
                           error_file_for(Path("failed") / name.replace("/", "_")).name)
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
    updated = max((t for p in ordered if (t := as_number(p.get("updated_at"))) is not None),
                  default=None)
    when = None if updated is None else _local(updated, tz)
    day = when.strftime("%Y-%m-%d") if when else ""
    title = f"Upload status {DASH} {printable(label)}" if label else "Upload status"
    if when:
        title += f" {DASH} updated {when.strftime('%H:%M:%S %Z').strip()} ({day})"

    lines = [title, "", *_folder_state(ordered, live, day, tz), "", "Files in the inbox:"]
    files = _merged_files(ordered, live)
    for entry in files:
        size = as_number(entry.get("size"))
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

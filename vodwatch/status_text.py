"""``vodwatch status``, showing: the dict :func:`status_collect.collect` made,
as text for a person (pure) or as one JSON object."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

BAR_WIDTH = 20
_REASON_WIDTH = 200  # text output only; JSON keeps the whole reason


def duration(seconds: float | None) -> str:
    """A short human duration: ``12s``, ``3m20s``, ``2h05m``, ``3d04h``; ``--`` if unknown."""
    if seconds is None:
        return "--"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def ago(seconds: float | None) -> str:
    """``5m00s ago``, or ``just now`` under a second."""
    if seconds is None:
        return "never"
    return "just now" if seconds < 1 else f"{duration(seconds)} ago"


def size(n: float) -> str:
    """Bytes in decimal units: ``512 B``, ``12.3 MB``, ``1.2 GB``."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def fraction(sent: int, total: int) -> float:
    """The share of ``total`` sent, from 0.0 to 1.0 (1.0 when there is nothing to send)."""
    if total <= 0:
        return 1.0
    return min(1.0, max(0.0, sent / total))


def progress_bar(sent: int, total: int, width: int = BAR_WIDTH) -> str:
    """``[#########-----------]  45%``: the share sent, rounded down."""
    frac = fraction(sent, total)
    filled = int(frac * width)
    return f"[{'#' * filled}{'-' * (width - filled)}] {int(frac * 100):3d}%"


def _short(text: str, width: int = _REASON_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _upload_line(u: Mapping[str, Any]) -> str:
    rate = u["rate_bytes_per_s"]
    speed = f"{size(rate)}/s" if rate is not None else "-- MB/s"
    asset = "" if u["file"].startswith(u["asset_id"]) else f", asset {u['asset_id']}"
    return (f"    {u['file']}  {progress_bar(u['sent'], u['total'])}  {speed}  "
            f"ETA {duration(u['eta_s'])}  ({size(u['sent'])} of {size(u['total'])}{asset})")


def _header(data: Mapping[str, Any]) -> str:
    d = data["daemon"]
    status = d["status"]
    if status == "never started":
        return f"vodwatch has never run with the journal {data['journal']}"
    if status == "not running":
        how = "stopped" if d["state"] == "stopped" else "not running"
        return f"vodwatch is {how} (last seen {ago(d['last_seen_s'])})"
    up = duration(data["now"] - d["started_at"])
    return (f"vodwatch is {status} (pid {d['pid']}, up {up}, heartbeat "
            f"{ago(d['last_seen_s'])})")


def _folder_lines(f: Mapping[str, Any], now: float, live: bool) -> list[str]:
    lines = [f"{f['name']}"]
    if f["paths"]:
        lines.append(f"  done: {f['paths']['done']}   failed: {f['paths']['failed']}")
    if live and f["mode"]:
        lines.append(f"  watch: {f['mode']} ({f['why']})" if f["why"] else
                     f"  watch: {f['mode']}")
    elif not live:
        lines.append("  watch: unknown while the daemon is not running")
    if f["available"] is False:
        lines.append(f"  NOT AVAILABLE: {f.get('unavailable') or 'the folder cannot be read'}")
    if f.get("notify_failures"):
        lines.append(f"  notifications not delivered: {f['notify_failures']} (see the log)")
    for name, why in (f.get("not_handled") or {}).items():
        lines.append(f"  not handled: {name}: {why}")
    if f["paused"]:
        p = f["paused"]
        since = f" since {ago(now - p['since'])}" if p["since"] is not None else ""
        detail = f": {_short(p['detail'])}" if p["detail"] else ""
        lines.append(f"  PAUSED ({p['reason']}){since}{detail}")
    if live:
        lines.append(f"  queue ({len(f['queue'])}):" if f["queue"] else "  queue: empty")
        for q in f["queue"]:
            state = (f"settled {duration(q['stable_for_s'])} ago, waiting for its turn"
                     if q["settled"] else f"settling: unchanged for {duration(q['stable_for_s'])}")
            lines.append(f"    {q['file']}  {size(q['size'])}  {state}, seen "
                         f"{ago(q['waiting_for_s'])}")
        lines.append(f"  in flight ({len(f['in_flight'])}):" if f["in_flight"]
                     else "  in flight: none")
        lines += [_upload_line(u) for u in f["in_flight"]]
    if f["waiting"]:
        lines.append(f"  waiting ({len(f['waiting'])}):")
    for w in f["waiting"]:
        when = (f"retry in {duration(w['retry_in_s'])}" if w["retry_in_s"] > 0
                else "retry due now")
        files = ", ".join(w["files"]) or f"asset {w['asset_id']}"
        lines.append(f"    {files}  ({w['state']}, attempt {w['attempts']}, {when}): "
                     f"{_short(w['reason'])}")
    for kind in ("done", "failed"):
        items = f["recent_" + kind]
        if not items:
            lines.append(f"  {kind}: none yet")
            continue
        lines.append(f"  latest {kind} ({len(items)}):")
        for e in items:
            text = f"    {ago(now - e['at'])}  {e['file'] or 'asset ' + e['asset_id']}"
            if kind == "failed":
                code = f" [{e['code']}]" if e["code"] else ""
                text += f"{code}: {_short(e['detail'])}" if e["detail"] or code else ""
            elif e["detail"] and e["detail"] != e["file"]:
                text += f" -> {e['detail']}"
            if kind == "done" and e["file"] and e["asset_id"] and not e["file"].startswith(
                    e["asset_id"]):
                text += f"  (asset {e['asset_id']})"  # a created asset: its new ID
            lines.append(text)
    titles = f.get("titles") or []
    if titles:
        lines.append(f"  titles ({len(titles)}):")
    for t in titles:
        lines.append(f"    {t['title']} -> asset {t['asset_id']}" if t["asset_id"] else
                     f"    {t['title']}: being created since {clock_time(t['since'])}")
    return lines


def clock_time(at: float | None) -> str:
    """``2026-05-12 08:01:02`` in local time, as the web page shows times."""
    return "" if at is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def bandwidth_line(b: Mapping[str, Any]) -> str:
    """``bandwidth: 40 Mbit/s until Mon 19:00 (then off), timetable 08:00,40 19:00,off``."""
    def limit(mbps: float | None) -> str:
        return f"{mbps:g} Mbit/s" if mbps else "no limit"
    text = f"bandwidth: {limit(b.get('limit_mbps'))}"
    if b.get("timetable"):
        if b.get("next_change"):
            at = time.strftime("%a %H:%M", time.localtime(float(b["next_change"])))
            text += f" until {at} (then {limit(b.get('next_limit_mbps'))})"
        text += f", timetable {b['timetable']}"
    return text


def render(data: Mapping[str, Any]) -> str:
    """The human-readable status report for ``data`` from :func:`collect`."""
    live = data["daemon"]["status"] in ("running", "degraded", "starting")
    now = float(data["now"])
    lines = [_header(data)]
    if live and data.get("bandwidth"):
        lines.append(bandwidth_line(data["bandwidth"]))
    for f in data["folders"]:
        lines.append("")
        lines += _folder_lines(f, now, live)
    if data.get("in_flight_elsewhere"):
        lines += ["", "in flight (folder set unknown):"]
        lines += [_upload_line(u) for u in data["in_flight_elsewhere"]]
    lines.append("")
    if data["problems"]:
        lines.append("NOT HEALTHY: " + "; ".join(data["problems"]))
    else:
        lines.append("healthy")
    return "\n".join(lines) + "\n"


def render_json(data: Mapping[str, Any]) -> str:
    """``data`` as one JSON object (sorted keys, one line)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"

"""``vodwatch status``: what the daemon is doing, read from the journal without disturbing it.

Three steps: ``collect`` reads the journal (read-only, so it works while the
daemon runs) into one plain dict; ``render`` (pure) turns that dict into text and
``render_json`` into one JSON object with the same information; ``exit_code``
says whether the daemon is healthy. Every string taken from the journal is
cleaned on the way in: registered secrets and URL signatures are removed, and
URLs with a query (signed upload URLs) are never shown at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from . import journal as J
from .config import Config, load_credentials
from .errors import ConfigError
from .journal import Journal
from .log import add_secret, redact
from .words import printable

# The daemon writes a heartbeat every 2 s; missing about five of them means it is gone.
HEARTBEAT_TIMEOUT_SECONDS = 10.0
RECENT = 10  # how many done and failed files are listed per folder set
BAR_WIDTH = 20
_REASON_WIDTH = 200  # text output only; JSON keeps the whole reason

# Every state a job can be in before it ends (the journal's words).
ACTIVE_STATES = (J.CLAIMING, J.CLAIMED, J.READY, J.REQUESTING, J.REQUESTED, J.UPLOADING,
                 J.CONFIRMING, J.CONFIRMED, J.FINISHING)

_URL_WITH_QUERY = re.compile(r"(?i)\b(?:https?|s3)://[^\s\"'<>]*\?[^\s\"'<>]*")


def clean(text: object) -> str:
    """``text`` as safe to show: no secrets, no signatures, no signed URLs."""
    return printable(redact(_URL_WITH_QUERY.sub("<url>", str(text))))


def _opt(text: object) -> str | None:
    return None if text is None else clean(text)


# ---- reading the journal ------------------------------------------------------------------


def collect(journal: Journal, config: Config, now: float) -> dict[str, Any]:
    """Everything ``status`` shows, as plain JSON-ready data (``now`` is wall-clock time)."""
    info = journal.daemon_info()
    daemon = daemon_summary(info, now)
    live = daemon["status"] in ("running", "degraded", "starting")
    snapshot: Mapping[str, Any] = info["snapshot"] if info and live else {}
    snap_folders: Mapping[str, Any] = snapshot.get("folders") or {}
    pauses = journal.pauses()
    unfinished = journal.jobs_in(ACTIVE_STATES, limit=1000)

    names = [fs.name for fs in config.folders]
    names += [n for n in (*snap_folders, *pauses) if n not in names]
    paths = {fs.name: fs for fs in config.folders}

    folder_of_asset = {job.asset_id: job.folder for job in unfinished}
    in_flight: dict[str | None, list[dict[str, Any]]] = {}
    for item in snapshot.get("in_flight") or []:
        folder = item.get("folder") or folder_of_asset.get(item.get("asset_id", ""))
        if folder is None and len(names) == 1:
            folder = names[0]
        key = folder if folder in names else None
        in_flight.setdefault(key, []).append(upload_progress(item))
    busy = {u["asset_id"] for uploads in in_flight.values() for u in uploads}

    folders = []
    for name in names:
        snap: Mapping[str, Any] = snap_folders.get(name) or {}
        fs = paths.get(name)
        pause = pauses.get(name)
        paused: dict[str, Any] | None = None
        if pause is not None:
            paused = {"reason": clean(pause["reason"]), "detail": clean(pause["detail"]),
                      "since": pause["since"]}
        elif snap.get("paused"):
            paused = {"reason": clean(snap["paused"]), "detail": "", "since": None}
        folders.append({
            "name": clean(name),
            "paths": ({"inbox": clean(fs.inbox), "done": clean(fs.done),
                       "failed": clean(fs.failed)} if fs else None),
            "mode": _opt(snap.get("mode")) if snap else None,
            "why": _opt(snap.get("why")) if snap else None,
            "available": bool(snap.get("available", True)) if snap else None,
            "unavailable": _opt(snap.get("unavailable")) if snap else None,
            "notify_failures": int(snap.get("notify_failures") or 0) if snap else 0,
            "not_handled": {clean(k): clean(v) for k, v in (snap.get("not_handled") or {}
                                                             ).items()} if snap else {},
            "paused": paused,
            "queue": [_queued(q) for q in snap.get("queue") or []],
            "in_flight": in_flight.get(name, []),
            "waiting": [_waiting(journal, job, now) for job in unfinished
                        if job.folder == name and job.retry_at is not None
                        and job.wait_reason and job.asset_id not in busy],
            "recent_done": [_outcome(journal, e)
                            for e in journal.recent_events(["done"], RECENT, name)],
            "recent_failed": [_outcome(journal, e)
                              for e in journal.recent_events(["failed"], RECENT, name)],
        })
    data: dict[str, Any] = {
        "journal": clean(journal.path),
        "now": now,
        "daemon": daemon,
        "folders": folders,
        "in_flight_elsewhere": in_flight.get(None, []),
    }
    data["problems"] = problems(data)
    data["healthy"] = not data["problems"]
    return data


def daemon_summary(info: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
    """The daemon row judged at ``now``: status is running, degraded, starting, not running
    or never started."""
    if info is None:
        return {"status": "never started", "state": None, "pid": None, "started_at": None,
                "heartbeat": None, "last_seen_s": None}
    age = max(0.0, now - float(info["heartbeat"]))
    state = str(info["state"])
    if state == "stopped" or age > HEARTBEAT_TIMEOUT_SECONDS:
        status = "not running"
    elif state in ("running", "degraded", "starting"):
        status = state
    else:
        status = "degraded"
    return {"status": status, "state": clean(state), "pid": int(info["pid"]),
            "started_at": float(info["started_at"]), "heartbeat": float(info["heartbeat"]),
            "last_seen_s": round(age, 1)}


def _queued(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"file": clean(item.get("file", "")), "size": int(item.get("size") or 0),
            "settled": bool(item.get("settled")),
            "stable_for_s": float(item.get("stable_for_s") or 0.0),
            "waiting_for_s": float(item.get("waiting_for_s") or 0.0)}


def upload_progress(item: Mapping[str, Any]) -> dict[str, Any]:
    """One in-flight upload of the snapshot, with percent, rate (bytes/s) and ETA (s)."""
    total = int(item.get("total") or 0)
    sent = int(item.get("sent") or 0)
    elapsed = float(item.get("elapsed_s") or 0.0)
    rate = sent / elapsed if elapsed > 0 and sent > 0 else None
    eta = max(0.0, total - sent) / rate if rate else None
    return {"file": clean(item.get("file", "")), "asset_id": clean(item.get("asset_id", "")),
            "total": total, "sent": sent, "elapsed_s": elapsed,
            "percent": round(100.0 * _fraction(sent, total), 1),
            "rate_bytes_per_s": round(rate, 1) if rate is not None else None,
            "eta_s": round(eta, 1) if eta is not None else None}


def _waiting(journal: Journal, job: J.JobRow, now: float) -> dict[str, Any]:
    retry_at = float(job.retry_at or now)
    return {"job_id": job.id, "asset_id": clean(job.asset_id), "state": job.state,
            "attempts": job.attempts, "reason": clean(job.wait_reason or ""),
            "retry_at": retry_at, "retry_in_s": round(max(0.0, retry_at - now), 1),
            "files": [clean(f.name) for f in journal.files(job.id)]}


def _outcome(journal: Journal, event: Mapping[str, Any]) -> dict[str, Any]:
    code = None
    if event["event"] == "failed" and event.get("job_id") is not None:
        with contextlib.suppress(KeyError):  # the job was pruned; the event outlived it
            code = journal.job(int(event["job_id"])).error_code
    return {"at": float(event["at"]), "file": clean(event.get("file") or ""),
            "asset_id": clean(event.get("asset_id") or ""), "job_id": event.get("job_id"),
            "detail": clean(event.get("detail") or ""), "code": _opt(code)}


def problems(data: Mapping[str, Any]) -> list[str]:
    """Why the daemon is not healthy, one plain sentence each; empty when healthy."""
    daemon = data["daemon"]
    found = []
    if daemon["status"] == "never started":
        found.append("vodwatch has never run with this journal")
    elif daemon["status"] == "not running":
        found.append(f"vodwatch is not running (last seen {ago(daemon['last_seen_s'])})")
    elif daemon["status"] == "starting":
        found.append("vodwatch is starting")
    for folder in data["folders"]:
        if folder["paused"]:
            found.append(f"uploads from {folder['name']} are paused: {folder['paused']['reason']}")
        if folder["available"] is False:
            found.append(f"{folder['name']} is not available: "
                         f"{folder.get('unavailable') or 'the folder cannot be read'}")
    if daemon.get("state_fault"):
        found.append(f"the state folder is not usable: {daemon['state_fault']}")
    if daemon["status"] == "degraded" and len(found) == 0:
        found.append("vodwatch reports itself degraded")
    return found


def exit_code(data: Mapping[str, Any]) -> int:
    """0 when the daemon runs and every folder set works; 1 otherwise."""
    return 0 if not data["problems"] else 1


# ---- text -------------------------------------------------------------------------------


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


def _fraction(sent: int, total: int) -> float:
    if total <= 0:
        return 1.0
    return min(1.0, max(0.0, sent / total))


def progress_bar(sent: int, total: int, width: int = BAR_WIDTH) -> str:
    """``[#########-----------]  45%``: the share sent, rounded down."""
    frac = _fraction(sent, total)
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
            lines.append(text)
    return lines


def render(data: Mapping[str, Any]) -> str:
    """The human-readable status report for ``data`` from :func:`collect`."""
    live = data["daemon"]["status"] in ("running", "degraded", "starting")
    now = float(data["now"])
    lines = [_header(data)]
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


# ---- the command --------------------------------------------------------------------------


def _register_secret(config: Config, env: Mapping[str, str]) -> None:
    """Know the SK, if it can be read, so it is removed wherever it might appear."""
    credentials = config.credentials
    if credentials is None:
        try:
            credentials = load_credentials(config.vod, env, config.source)
        except (ConfigError, OSError):
            return  # status works without credentials; the other cleaning still applies
    add_secret(credentials.sk)


def _no_journal(path: Path, why: str, as_json: bool, out: TextIO) -> int:
    if as_json:
        out.write(render_json({"journal": clean(path), "healthy": False,
                               "problems": [clean(why)], "daemon": None, "folders": []}))
    else:
        out.write(clean(f"vodwatch: {why}") + "\n")
    return 1


def run_status(config: Config, as_json: bool, out: TextIO, now: float | None = None,
               env: Mapping[str, str] | None = None) -> int:
    """Print the status (text or ``--json``); 0 when healthy, 1 when degraded or not running."""
    _register_secret(config, os.environ if env is None else env)
    path = config.state_dir / "journal.sqlite3"
    if not path.is_file():
        return _no_journal(path, f"no journal at {path} yet: vodwatch has not run with "
                           f"state_dir {config.state_dir} (start it with 'vodwatch run')",
                           as_json, out)
    try:
        journal = Journal.open(config.state_dir, readonly=True)
    except sqlite3.Error as exc:
        return _no_journal(path, f"cannot open the journal {path}: {exc} (check that this "
                           "user may read state_dir)", as_json, out)
    try:
        data = collect(journal, config, time.time() if now is None else now)
    except sqlite3.Error as exc:
        return _no_journal(path, f"cannot read the journal {path}: {exc} (check that this "
                           "user may read state_dir, and that it is vodwatch's journal)",
                           as_json, out)
    finally:
        journal.close()
    out.write(render_json(data) if as_json else render(data))
    return exit_code(data)


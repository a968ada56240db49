"""``vodwatch status``, reading: the journal (read-only, so it works while the
daemon runs) into one plain dict, and whether that means healthy.

Every string taken from the journal is cleaned on the way in: registered secrets
and URL signatures are removed, and URLs with a query (signed upload URLs) are
never shown at all.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import Config, FolderSet
from .decide import MoveRefused
from .explain import FAILED_WAITING_TO_MOVE
from .finish import read_failed_detail
from .journal import FileRow, JobRow, Journal
from .log import redact
from .news import shown_name
from .pause import ManualPause, read_state
from .state import is_locked, read_holder
from .state_wait import disk_fault
from .states import WORKING_STATES, FileState, JobState
from .status_text import ago, fraction
from .titles import all_mappings, stamp
from .words import printable

# The daemon writes a heartbeat every 2 s; missing about five of them means it is gone.
HEARTBEAT_TIMEOUT_SECONDS = 10.0
RECENT = 10  # how many done and failed files are listed per folder set

# Every state a job can be in before it ends (the journal's words), create mode's
# "creating" included: taken from the states themselves so that none is ever left out.
ACTIVE_STATES = tuple(state for state in JobState if state in WORKING_STATES)

_URL_WITH_QUERY = re.compile(r"(?i)\b(?:https?|s3)://[^\s\"'<>]*\?[^\s\"'<>]*")


def clean(text: object) -> str:
    """``text`` as safe to show: no secrets, no signatures, no signed URLs."""
    return printable(redact(_URL_WITH_QUERY.sub("<url>", str(text))))


def _opt(text: object) -> str | None:
    return None if text is None else clean(text)


def collect(journal: Journal, config: Config, now: float) -> dict[str, Any]:
    """Everything ``status`` shows, as plain JSON-ready data (``now`` is wall-clock time)."""
    info = journal.daemon_info()
    daemon = daemon_summary(info, now)
    disk = disk_fault(config.state_dir)
    if disk is not None and daemon["status"] == "not running" and is_locked(config.state_dir):
        daemon["status"] = "degraded"  # alive (it holds the lock), but cannot write the journal
        holder = read_holder(config.state_dir)
        if holder is not None and holder.pid != daemon["pid"] and holder.command == "run":
            # A run started after the journal's last word, waiting for the disk.
            daemon.update(pid=holder.pid, started_at=holder.started_at)
    live = daemon["status"] in ("running", "degraded", "starting")
    snapshot: Mapping[str, Any] = info["snapshot"] if info and live else {}
    daemon["state_fault"] = clean(disk) if disk else _opt(snapshot.get("state_fault"))
    snap_folders: Mapping[str, Any] = snapshot.get("folders") or {}
    pauses = journal.pauses()
    unfinished = journal.jobs_in(ACTIVE_STATES, limit=1000)

    names = [folder_set.name for folder_set in config.folders]
    names += [n for n in (*snap_folders, *pauses) if n not in names]
    paths = {folder_set.name: folder_set for folder_set in config.folders}

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
        folder_set = paths.get(name)
        pause = pauses.get(name)
        paused: dict[str, Any] | None = None
        held = _held(snap, folder_set, live)
        if held is not None:
            paused = {"reason": clean(held.reason), "detail": clean(held.why),
                      "since": held.since, "by": clean(held.who), "manual": True}
        elif pause is not None:
            paused = {"reason": clean(pause["reason"]), "detail": clean(pause["detail"]),
                      "since": pause["since"]}
        elif snap.get("paused"):
            paused = {"reason": clean(snap["paused"]), "detail": "", "since": None}
        folders.append({
            "name": clean(name),
            "label": clean(folder_set.label) if folder_set else clean(name),
            "paths": ({"inbox": clean(folder_set.inbox), "done": clean(folder_set.done),
                       "failed": clean(folder_set.failed)} if folder_set else None),
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
            "waiting": [entry for job in unfinished
                        if job.folder == name and job.retry_at is not None
                        and job.wait_reason and job.asset_id not in busy
                        for entry in _waiting(journal, job, now,
                                              folder_set.inbox if folder_set else None)],
            "recent_done": [_outcome(journal, e)
                            for e in journal.recent_events(["done"], RECENT, name)],
            "recent_failed": [_outcome(journal, e)
                              for e in journal.recent_events(["failed"], RECENT, name)],
            "titles": _titles(folder_set),
        })
    data: dict[str, Any] = {
        "journal": clean(journal.path),
        "now": now,
        "daemon": daemon,
        "folders": folders,
        "in_flight_elsewhere": in_flight.get(None, []),
        "bandwidth": _bandwidth(snapshot.get("bandwidth")),
    }
    data["problems"] = problems(data)
    data["healthy"] = not data["problems"]
    return data


def _titles(folder_set: FolderSet | None) -> list[dict[str, Any]]:
    """Create mode: the titles of the folder set and the asset each became (None while
    only its intent is recorded, ``since`` when it was first asked)."""
    if folder_set is None or not folder_set.create_assets:
        return []
    return [{"title": clean(m["title"]), "asset_id": _opt(m.get("asset_id") or None),
             "since": stamp(m.get("requested_at"))} for m in all_mappings(folder_set.inbox)]


def _bandwidth(found: Any) -> dict[str, Any] | None:
    """The snapshot's bandwidth limit now and its timetable (None: not running)."""
    if not isinstance(found, Mapping):
        return None
    return {"limit_mbps": found.get("limit_mbps"), "timetable": _opt(found.get("timetable")),
            "next_change": found.get("next_change"),
            "next_limit_mbps": found.get("next_limit_mbps")}


def _held(snap: Mapping[str, Any], folder_set: FolderSet | None, live: bool) -> ManualPause | None:
    """Someone's pause: as the running daemon sees it, else as the share says."""
    if live and snap:
        return ManualPause.from_dict(snap.get("held"))
    return read_state(folder_set.inbox) if folder_set is not None else None


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
            "percent": round(100.0 * fraction(sent, total), 1),
            "rate_bytes_per_s": round(rate, 1) if rate is not None else None,
            "eta_s": round(eta, 1) if eta is not None else None}


def _waiting(journal: Journal, job: JobRow, now: float,
             inbox: Path | None) -> list[dict[str, Any]]:
    """A waiting job; one entry per destination while it finishes, so that a file refused
    on its own is never listed under "delivered, waiting to move", nor a delivered one
    under "failed, waiting to move" (only files not yet moved are named then). Files are
    named by their path from the inbox (``Show A/Trailer.mp4`` in a recursive inbox)."""
    retry_at = float(job.retry_at or now)
    reason = job.wait_reason or ""
    files = journal.files(job.id)

    def named(rows: list[FileRow]) -> list[str]:
        return [shown_name(f.inbox_path, inbox) if f.inbox_path else f.name for f in rows]

    groups: list[tuple[list[str], str]] = [(named(files), reason)]
    if job.state == JobState.FINISHING:
        left = [f for f in files if f.state not in (FileState.DONE, FileState.FAILED)]
        failing = named([f for f in left if job.outcome == JobState.FAILED or f.error])
        delivered = [name for name in named(left) if name not in failing]
        moving = reason.startswith((MoveRefused.reason, FAILED_WAITING_TO_MOVE))
        groups = [(names, words if moving and not reason.startswith(words) else reason)
                  for names, words in ((delivered, MoveRefused.reason),
                                       (failing, FAILED_WAITING_TO_MOVE)) if names]
    return [{"job_id": job.id, "asset_id": clean(job.asset_id), "state": job.state,
             "attempts": job.attempts, "reason": clean(why),
             "retry_at": retry_at, "retry_in_s": round(max(0.0, retry_at - now), 1),
             "files": [clean(name) for name in names]} for names, why in groups]


def _outcome(journal: Journal, event: Mapping[str, Any]) -> dict[str, Any]:
    code = None
    if event["event"] == "failed" and event.get("job_id") is not None:
        with contextlib.suppress(KeyError):  # the job was pruned; the event outlived it
            code = journal.job(int(event["job_id"])).error_code
    detail = str(event.get("detail") or "")
    if event["event"] == "failed":
        detail = read_failed_detail(detail)[0]  # the sentence, without the name in failed/
    return {"at": float(event["at"]), "file": clean(event.get("file") or ""),
            "asset_id": clean(event.get("asset_id") or ""), "job_id": event.get("job_id"),
            "detail": clean(detail), "code": _opt(code)}


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
        if folder["paused"] and not folder["paused"].get("manual"):
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

"""What the daemon tells the outside about itself: the snapshot that ``status`` reads,
the sd_notify STATUS line, health for ``/healthz``, gauges, and progress log lines.

Pure functions of the folder sets' state, so the daemon's loop only decides when.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from . import journal as J
from .journal import Journal
from .metrics import Metrics
from .news import view as news_view
from .status_collect import upload_progress
from .upload import Progress

if TYPE_CHECKING:
    from .pause import ManualPause
    from .runtime import FolderSetRuntime

log = structlog.get_logger("vodwatch.report")


def in_flight(sets: Mapping[str, FolderSetRuntime]) -> list[dict[str, Any]]:
    """Every file being sent now: folder set, file, asset, bytes sent of total, elapsed."""
    return [{"folder": name, "file": p.name, "asset_id": p.asset_id, "total": p.total,
             "sent": p.sent, "elapsed_s": round(time.monotonic() - p.started, 1)}
            for name, rt in sets.items() for p in list(rt.svc.progress.values())]


def snapshot(sets: Mapping[str, FolderSetRuntime], waiting: int,
             state_fault: str | None = None,
             bandwidth: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The daemon's in-memory view, written to the journal for ``vodwatch status``."""
    return {
        "pid": os.getpid(),
        "folders": {
            name: {"mode": rt.watch.mode, "why": rt.watch.mode_why,
                   "available": rt.watch.available, "unavailable": rt.watch.unavailable,
                   "paused": rt.paused, "not_handled": dict(rt.watch.skipped),
                   "held": rt.held.as_dict() if rt.held else None,
                   "notify_failures": rt.news.failures,
                   "queue": queue_snapshot(rt)}
            for name, rt in sets.items()
        },
        "in_flight": in_flight(sets),
        "waiting": waiting,
        "state_fault": state_fault,
        "bandwidth": dict(bandwidth) if bandwidth is not None else None,
    }


def status_line(sets: Mapping[str, FolderSetRuntime], running: int, waiting: int,
                state_fault: str | None = None) -> str:
    """One line for sd_notify's STATUS (what ``systemctl status`` shows)."""
    queued = sum(len(rt.watch.settler) for rt in sets.values())
    paused = [n for n, rt in sets.items() if rt.paused or rt.held]
    away = [f"{n} ({rt.watch.unavailable})" for n, rt in sets.items() if rt.watch.unavailable]
    text = f"{queued} queued, {running} in flight, {waiting} waiting"
    text += f", PAUSED: {', '.join(paused)}" if paused else ""
    text += f", UNAVAILABLE: {'; '.join(away)}" if away else ""
    return text + (f", STATE UNAVAILABLE: {state_fault}" if state_fault else "")


def health(sets: Mapping[str, FolderSetRuntime], running: int, stopping: bool,
           state_fault: str | None = None) -> tuple[bool, dict[str, Any]]:
    """Healthy unless a folder set is paused or unavailable, the state folder failed,
    or the daemon is stopping."""
    paused = {n: rt.paused or (f"paused by {rt.held.who}" if rt.held else "")
              for n, rt in sets.items() if rt.paused or rt.held}
    unavailable = {n: rt.watch.unavailable for n, rt in sets.items() if rt.watch.unavailable}
    ok = not paused and not unavailable and not stopping and not state_fault
    return ok, {"paused": paused, "unavailable": unavailable, "in_flight": running,
                "state": state_fault or "ok"}


def update_gauges(metrics: Metrics, sets: Mapping[str, FolderSetRuntime],
                  waiting: Mapping[str, int] | None = None, count_failed: bool = True) -> None:
    """Queue depth (paused jobs of ``waiting`` included), share availability, bytes in
    flight, and (``count_failed``) the files waiting in each failed/ folder."""
    metrics.inflight_bytes.set(sum(item["sent"] for item in in_flight(sets)))
    for name, rt in sets.items():
        metrics.folder(name)
        held = (waiting or {}).get(name, 0) if rt.paused else 0
        metrics.queue.labels(name).set(len(rt.watch.settler) + held)
        metrics.share_available.labels(name).set(1 if rt.watch.available else 0)
        metrics.unavailable.labels(name).set(0 if rt.watch.available else 1)
        metrics.notify_failures.labels(name).set(rt.news.failures)
        if count_failed:
            metrics.failed_waiting.labels(name).set(failed_files(rt.fs.failed))


def failed_files(folder: Path) -> int:
    """Files an operator still has to look at in failed/ (not the .error.txt beside each)."""
    try:
        return sum(1 for e in os.scandir(folder) if not e.name.startswith(".")
                   and not e.name.endswith(".error.txt"))
    except OSError:
        return 0


def log_progress(items: Iterable[Mapping[str, Any]]) -> None:
    """One ``upload.progress`` line per file in flight (a snapshot's ``in_flight``)."""
    for item in items:
        p = upload_progress(item)  # the same percent, rate and ETA that status shows
        rate = p["rate_bytes_per_s"]
        log.info("upload.progress", file=p["file"], asset_id=p["asset_id"], sent=p["sent"],
                 total=p["total"], percent=p["percent"],
                 rate_mb_s=round(rate / 1e6, 2) if rate is not None else None,
                 eta_s=round(p["eta_s"]) if p["eta_s"] is not None else None)


def file_state(job: J.JobRow, f: J.FileRow, progress: Progress | None, running: bool,
               paused: bool) -> dict[str, Any]:
    """One file of an unfinished job as the status page shows it."""
    entry: dict[str, Any] = {"name": f.name, "size": f.size or 0}
    if running:
        entry["state"] = "uploading"
        if progress is not None and progress.total:
            p = upload_progress({"file": f.name, "asset_id": job.asset_id,
                                 "total": progress.total, "sent": progress.sent,
                                 "elapsed_s": time.monotonic() - progress.started})
            entry.update(percent=p["percent"], rate_bytes_per_s=p["rate_bytes_per_s"],
                         eta_s=p["eta_s"])
    elif (job.wait_reason or "").startswith("delivered, waiting to move"):
        entry["state"] = "moving"
    elif paused:
        entry["state"] = "paused"
    else:
        entry.update(state="waiting", why=job.wait_reason, retry_at=job.retry_at)
    return entry


def page_view(rt: FolderSetRuntime, journal: Journal, running: set[int]) -> dict[str, Any]:
    """What the status page in the share says about this folder set now."""
    state, why = "working", None
    if rt.watch.unavailable:
        state, why = "unavailable", rt.watch.unavailable
    elif rt.held is not None:
        state, why = "paused", held_words(rt.held)
    elif rt.paused:
        pause = journal.pauses().get(rt.fs.name, {})
        state, why = "paused", str(pause.get("detail") or rt.paused)
    jobs = []
    for job in journal.unfinished_jobs():
        if job.folder != rt.fs.name:
            continue
        for f in journal.files(job.id):
            if f.state in ("done", "failed"):
                continue
            jobs.append(file_state(job, f, rt.svc.progress.get(f.id), job.id in running,
                                   bool(rt.paused or rt.held)))
    recent = [{"at": e["at"], "file": e["file"] or "", "outcome": e["event"],
               # a done event's detail is the name in done/: worth saying if it differs
               "detail": "" if e["detail"] == e["file"] else (
                   f"kept in done/ as {e['detail']}" if e["event"] == "done"
                   else e["detail"] or ""),
               "asset_id": e["asset_id"] or ""}
              for e in journal.recent_events(["done", "failed"], 20, rt.fs.name)]
    return news_view(state=state, why=why, pending=rt.watch.settler.pending(), jobs=jobs,
                     not_handled=rt.watch.skipped, recent=recent,
                     language_map=rt.svc.language_map)


def held_words(held: ManualPause) -> str:
    """Who paused a folder set and since when, in local time, for people."""
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(held.since))
    return f"{held.reason} since {since}" + (f": {held.why}" if held.why else "")


def queue_snapshot(rt: FolderSetRuntime, limit: int = 50) -> list[dict[str, Any]]:
    """Files waiting in the inbox, for ``status``."""
    now = rt.watch.clock()
    out = []
    for path, info in list(rt.watch.settler.pending().items())[:limit]:
        out.append({"file": path.name, "size": info.size, "settled": info.settled,
                    "stable_for_s": round(now - info.stable_since, 1),
                    "waiting_for_s": round(now - info.first_seen, 1)})
    return out

"""What the daemon tells the outside about itself: the snapshot that ``status`` reads,
the sd_notify STATUS line, health for ``/healthz``, gauges, and progress log lines.

Pure functions of the folder sets' state, so the daemon's loop only decides when.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from .explain import FAILED_WAITING_TO_MOVE
from .journal import FileRow, JobRow, Journal
from .metrics import Metrics
from .news import shown_name
from .news import view as news_view
from .states import FileState, JobState
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
            for name, runtime in sets.items() for p in list(runtime.services.progress.values())]


def snapshot(sets: Mapping[str, FolderSetRuntime], waiting: int,
             state_fault: str | None = None,
             bandwidth: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The daemon's in-memory view, written to the journal for ``vodwatch status``."""
    return {
        "pid": os.getpid(),
        "folders": {
            name: {"mode": runtime.watch.mode, "why": runtime.watch.mode_why,
                   "available": runtime.watch.available, "unavailable": runtime.watch.unavailable,
                   "paused": runtime.paused, "not_handled": dict(runtime.watch.skipped),
                   "held": runtime.held.as_dict() if runtime.held else None,
                   "notify_failures": runtime.news.failures,
                   "queue": queue_snapshot(runtime)}
            for name, runtime in sets.items()
        },
        "in_flight": in_flight(sets),
        "waiting": waiting,
        "state_fault": state_fault,
        "bandwidth": dict(bandwidth) if bandwidth is not None else None,
    }


def status_line(sets: Mapping[str, FolderSetRuntime], running: int, waiting: int,
                state_fault: str | None = None) -> str:
    """One line for sd_notify's STATUS (what ``systemctl status`` shows)."""
    queued = sum(len(runtime.watch.settler) for runtime in sets.values())
    paused = [n for n, runtime in sets.items() if runtime.paused or runtime.held]
    away = [f"{n} ({runtime.watch.unavailable})" for n, runtime in sets.items()
            if runtime.watch.unavailable]
    text = f"{queued} queued, {running} in flight, {waiting} waiting"
    text += f", PAUSED: {', '.join(paused)}" if paused else ""
    text += f", UNAVAILABLE: {'; '.join(away)}" if away else ""
    return text + (f", STATE UNAVAILABLE: {state_fault}" if state_fault else "")


def health(sets: Mapping[str, FolderSetRuntime], running: int, stopping: bool,
           state_fault: str | None = None) -> tuple[bool, dict[str, Any]]:
    """Healthy unless a folder set is paused or unavailable, the state folder failed,
    or the daemon is stopping."""
    paused = {n: runtime.paused or (f"paused by {runtime.held.who}" if runtime.held else "")
              for n, runtime in sets.items() if runtime.paused or runtime.held}
    unavailable = {n: runtime.watch.unavailable for n, runtime in sets.items()
                   if runtime.watch.unavailable}
    ok = not paused and not unavailable and not stopping and not state_fault
    return ok, {"paused": paused, "unavailable": unavailable, "in_flight": running,
                "state": state_fault or "ok"}


def update_gauges(metrics: Metrics, sets: Mapping[str, FolderSetRuntime],
                  waiting: Mapping[str, int] | None = None, count_failed: bool = True) -> None:
    """Queue depth (paused jobs of ``waiting`` included), share availability, bytes in
    flight, and (``count_failed``) the files waiting in each failed/ folder."""
    metrics.inflight_bytes.set(sum(item["sent"] for item in in_flight(sets)))
    for name, runtime in sets.items():
        metrics.folder(name)
        held = (waiting or {}).get(name, 0) if runtime.paused else 0
        metrics.queue.labels(name).set(len(runtime.watch.settler) + held)
        metrics.share_available.labels(name).set(1 if runtime.watch.available else 0)
        metrics.unavailable.labels(name).set(0 if runtime.watch.available else 1)
        metrics.notify_failures.labels(name).set(runtime.news.failures)
        if count_failed:
            metrics.failed_waiting.labels(name).set(failed_files(runtime.folder_set.failed))


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


def file_state(job: JobRow, f: FileRow, progress: Progress | None, running: bool,
               paused: bool, inbox: Path | None = None) -> dict[str, Any]:
    """One file of an unfinished job as the status page shows it, named by its path from
    ``inbox`` (a file in a sub-folder of a recursive inbox: ``Episode 12/<name>``)."""
    entry: dict[str, Any] = {"name": shown_name(f.inbox_path, inbox) if f.inbox_path
                             else f.name, "size": f.size}
    if f.size is None:  # not hashed yet: the size the file has now, never a false "0 bytes"
        with contextlib.suppress(OSError):
            entry["size"] = os.stat(f.inbox_path).st_size
    to = "failed" if job.outcome == JobState.FAILED or f.error is not None else "done"
    if job.state == JobState.FINISHING and (running or (job.wait_reason or "").startswith(
            ("delivered, waiting to move", FAILED_WAITING_TO_MOVE))):
        # Sent (or failed): only the move is left. Each file says where it goes: a job's
        # failed file may wait beside delivered ones.
        entry.update(state="moving", to=to)
    elif running:
        entry["state"] = "uploading"
        if progress is not None and progress.total:
            p = upload_progress({"file": f.name, "asset_id": job.asset_id,
                                 "total": progress.total, "sent": progress.sent,
                                 "elapsed_s": time.monotonic() - progress.started})
            entry.update(percent=p["percent"], rate_bytes_per_s=p["rate_bytes_per_s"],
                         eta_s=p["eta_s"])
    elif paused:
        entry["state"] = "paused"
    else:
        entry.update(state="waiting", why=job.wait_reason, retry_at=job.retry_at)
    return entry


def page_view(runtime: FolderSetRuntime, journal: Journal, running: set[int]) -> dict[str, Any]:
    """What the status page in the share says about this folder set now."""
    state, why = "working", None
    if runtime.watch.unavailable:
        state, why = "unavailable", runtime.watch.unavailable
    elif runtime.held is not None:
        state, why = "paused", held_words(runtime.held)
    elif runtime.paused:
        pause = journal.pauses().get(runtime.folder_set.name, {})
        state, why = "paused", str(pause.get("detail") or runtime.paused)
    jobs = []
    for job in journal.unfinished_jobs():
        if job.folder != runtime.folder_set.name:
            continue
        for f in journal.files(job.id):
            if f.state in (FileState.DONE, FileState.FAILED):
                continue
            jobs.append(file_state(job, f, runtime.services.progress.get(f.id), job.id in running,
                                   bool(runtime.paused or runtime.held),
                                   runtime.folder_set.inbox))
    recent = [{"at": e["at"], "file": e["file"] or "", "outcome": e["event"],
               # a done event's detail is the name in done/: worth saying if it differs
               "detail": "" if e["detail"] == e["file"] else (
                   f"kept in done/ as {e['detail']}" if e["event"] == "done"
                   else e["detail"] or ""),
               "asset_id": e["asset_id"] or ""}
              for e in journal.recent_events(["done", "failed"], 20, runtime.folder_set.name)]
    return news_view(state=state, why=why, pending=runtime.watch.settler.pending(), jobs=jobs,
                     not_handled=runtime.watch.skipped, recent=recent,
                     language_map=runtime.services.language_map,
                     inbox=runtime.folder_set.inbox)


def held_words(held: ManualPause) -> str:
    """Who paused a folder set and since when, in local time, for people."""
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(held.since))
    return f"{held.reason} since {since}" + (f": {held.why}" if held.why else "")


def queue_snapshot(runtime: FolderSetRuntime, limit: int = 50) -> list[dict[str, Any]]:
    """Files waiting in the inbox, for ``status``."""
    now = runtime.watch.clock()
    out = []
    for path, info in list(runtime.watch.settler.pending().items())[:limit]:
        out.append({"file": shown_name(path, runtime.folder_set.inbox), "size": info.size,
                    "settled": info.settled,
                    "stable_for_s": round(now - info.stable_since, 1),
                    "waiting_for_s": round(now - info.first_seen, 1)})
    return out

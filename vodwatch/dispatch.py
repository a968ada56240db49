"""Jobs on the daemon's worker pool: start a job, reap it when its turn ends, and act on
how it ended (wait, pause, share unavailable, finished); count what finished.

A job that crashes (a bug, not the file's fault) keeps its files and backs off like a
retry; a job whose journal write fails waits and is tried again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import structlog

from .config import Config
from .explain import still_writing_failure
from .journal import FileRow, JobRow, Journal
from .metrics import Metrics
from .pauses import Pauses
from .retry import LOOK_AGAIN_SECONDS
from .run_stats import RunStats
from .runner import Outcome, TurnEnd, run_job
from .runtime import FolderSetRuntime
from .states import FileState
from .titles import job_lock
from .wake import Hints

log = structlog.get_logger("vodwatch.daemon")


class DispatchHost(Protocol):
    """What dispatching reads and changes in the daemon."""

    config: Config
    once: bool
    stop: threading.Event
    hints: Hints
    journal: Journal
    metrics: Metrics
    stats: RunStats
    pool: ThreadPoolExecutor
    pauses: Pauses
    sets: dict[str, FolderSetRuntime]
    running: dict[int, Future[TurnEnd]]
    waiting: dict[int, float]  # job id -> monotonic time to run again
    job_folder: dict[int, str]


class Dispatch:
    """Starts jobs on the pool and acts on how each one's turn ended."""

    def __init__(self, host: DispatchHost) -> None:
        self.host = host
        # Jobs whose turn ended on a journal error: they wait a look-again time, not
        # none (their retry_at could not be written), so a failed state folder is not
        # hammered and the log not flooded.
        self._state_failed: set[int] = set()

    def submit(self, runtime: FolderSetRuntime, job_id: int) -> None:
        host = self.host
        host.job_folder[job_id] = runtime.folder_set.name
        fut = host.pool.submit(self._run_one, runtime, job_id)
        fut.add_done_callback(lambda _: host.hints.poke())  # reap at once
        host.running[job_id] = fut

    def _run_one(self, runtime: FolderSetRuntime, job_id: int) -> TurnEnd:
        journal = self.host.journal
        job = journal.job(job_id)
        if job.retry_at is not None:
            journal.set_job(job_id, retry_at=None, wait_reason=None)
        # Every line logged for this job names its folder set and files (log.py drops
        # what is still empty, e.g. the asset ID of a title not yet created).
        names = [f.name for f in journal.files(job_id)]
        with structlog.contextvars.bound_contextvars(
                job_id=job_id, asset_id=job.asset_id, title=job.title,
                folder=runtime.folder_set.name, files=names):
            try:
                return run_job(runtime.services, job_id)
            except sqlite3.Error as exc:
                # The state folder failed (full disk...): the loop says so; the job waits.
                log.error("job.state_unavailable", job_id=job_id, error=str(exc))
                self._state_failed.add(job_id)
                return Outcome.WAITING
            except Exception:
                # A bug, not the file's fault: keep the file, back off, try again later.
                log.exception("job.crashed", job_id=job_id)
                attempts = journal.job(job_id).attempts + 1
                journal.set_job(job_id, attempts=attempts, retry_at=time.time()
                                + runtime.services.policy.delay(attempts),
                                wait_reason="internal error (see the log)")
                return Outcome.WAITING

    def reap(self) -> None:
        """Act on every job whose turn has ended."""
        host = self.host
        for job_id, fut in list(host.running.items()):
            if not fut.done():
                continue
            del host.running[job_id]
            try:
                self._reaped(job_id, fut.result())
            except sqlite3.Error:
                host.waiting[job_id] = time.monotonic() + LOOK_AGAIN_SECONDS  # tried again
                raise

    def _reaped(self, job_id: int, outcome: TurnEnd) -> None:
        """Act on how a job's turn ended: wait, pause, unavailable or finished."""
        host = self.host
        runtime = host.sets.get(host.job_folder.get(job_id, ""))
        if job_id in self._state_failed:
            self._state_failed.discard(job_id)
            host.waiting[job_id] = time.monotonic() + (
                runtime.services.policy.look_again if runtime is not None else LOOK_AGAIN_SECONDS)
            return
        job = host.journal.job(job_id)
        if outcome is Outcome.INTERRUPTED:
            if not host.stop.is_set() and runtime is not None:
                host.waiting[job_id] = time.monotonic()  # held: it goes on at the resume
            return
        if outcome is Outcome.UNAVAILABLE:
            host.waiting[job_id] = time.monotonic() + (
                runtime.services.policy.look_again if runtime is not None else LOOK_AGAIN_SECONDS)
            if runtime is not None:
                runtime.watch.set_unavailable(job.wait_reason or "the share failed")
            return
        if outcome in (Outcome.WAITING, Outcome.PAUSED):
            delay = max(0.0, (job.retry_at or time.time()) - time.time())
            host.waiting[job_id] = time.monotonic() + delay
            if outcome is Outcome.PAUSED and runtime is not None:
                pause = host.journal.pauses().get(runtime.folder_set.name, {})
                host.pauses.pause(runtime, str(pause.get("reason", "credentials")),
                                  str(pause.get("detail", job.wait_reason or "")))
            elif host.once and runtime is not None and (
                    job.attempts >= runtime.services.policy.unreachable_after):
                host.stats.unreachable = True
                host.stats.detail = job.wait_reason or ""
            return
        if runtime is not None:
            runtime.watch.job_ended([Path(f.inbox_path) for f in host.journal.files(job_id)],
                                    job_lock(job.asset_id, job.title))

    def count_retry(self, reason: str) -> None:
        self.host.metrics.retries.labels(reason).inc()

    def on_outcome(self, job: JobRow, files: list[FileRow]) -> None:
        """A job finished: tell its folder set's news, count its files."""
        host = self.host
        owner = host.sets.get(job.folder)
        if owner is not None:
            owner.news.finished(job, files)
        # Counted per file: a refused cover fails alone beside a done video.
        host.metrics.duration.observe(max(0.0, (job.finished_at or job.updated_at)
                                          - job.created_at))
        for f in files:
            state = FileState.FAILED if f.state == FileState.FAILED else FileState.DONE
            host.metrics.files.labels(job.folder, state).inc()
            host.metrics.bytes.labels(job.folder, state).inc(f.size or 0)
            if state == FileState.DONE:
                host.stats.done += 1
                host.metrics.last_success.set(time.time())
            else:
                host.stats.failed += 1

    def fail_still_writing(self, runtime: FolderSetRuntime, path: Path) -> None:
        """A file written to for too long fails with its explanation."""
        failure = still_writing_failure(path.name, self.host.config.max_writing_hours)
        job_id = runtime.watch.fail_before_claim(path, failure)
        if job_id is not None:
            self.submit(runtime, job_id)

"""Recovery and take-over: what a daemon carries on after a restart, and from peers.

At start-up: 0.1 leftovers go back to the inbox, our own take-overs cut short by a
crash are finished, markers no unfinished job needs are dropped, and every
unfinished job is queued to run at once (a folder set whose share is away keeps
its jobs waiting: a restart during an outage forgets nothing and cancels nothing).
While running: our lease is renewed, a peer that presumed us dead keeps the jobs
it took, and the jobs of dead peers are adopted.
"""

from __future__ import annotations

import contextlib
import functools
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

import structlog

from . import upgrade
from .config import Config
from .journal import Journal
from .runtime import FolderSetRuntime
from .share_faults import share_fault
from .states import FINAL_STATES, FileState, JobState
from .titles import job_lock

log = structlog.get_logger("vodwatch.recovery")


class JobBook(Protocol):
    """The daemon's view of its jobs that recovery reads and fills."""

    journal: Journal
    config: Config
    sets: dict[str, FolderSetRuntime]
    job_folder: dict[int, str]
    waiting: dict[int, float]
    running: dict[int, Future[Any]]


class Recovery:
    """Start-up recovery and the take-over of dead peers' jobs for one daemon."""

    def __init__(self, book: JobBook) -> None:
        self.book = book
        self._legacy_done: set[str] = set()  # folder sets with no 0.1 claim folder left
        self._recovered: set[str] = set()  # folder sets whose share recover_share has seen

    def recover(self) -> None:
        """Carry on every unfinished job; a folder set whose share is away waits for it.

        A restart during an outage forgets nothing and cancels nothing: the jobs of an
        unavailable folder set wait, and the share's hidden folder is touched only
        when the share is there.
        """
        for runtime in self.book.sets.values():
            # A share away now is recovered when it first comes back (before its jobs run).
            runtime.watch.on_back = functools.partial(self.recover_share, runtime)
            runtime.watch.open_share()
        for job in self.book.journal.unfinished_jobs():
            owner = self.book.sets.get(job.folder)
            if owner is None:
                log.warning("recover.unknown_folder", job_id=job.id, folder=job.folder)
                continue
            owner.watch.busy.update(Path(f.inbox_path) for f in self.book.journal.files(job.id))
            key = job_lock(job.asset_id, job.title)
            if key:
                with contextlib.suppress(OSError):
                    owner.claims.lock_asset(key)
                owner.watch.active_assets.add(key)
            self.book.job_folder[job.id] = owner.folder_set.name
            # A restart is a natural moment to retry: recovered jobs run at once.
            self.book.waiting[job.id] = time.monotonic()
            log.info("recover.job", job_id=job.id, asset_id=job.asset_id, state=job.state)
        for folder, pause in self.book.journal.pauses().items():
            paused = self.book.sets.get(folder)
            if paused is not None:
                paused.paused = pause["reason"]

    def recover_share(self, runtime: FolderSetRuntime) -> None:
        """Our part of the share after a restart: 0.1 leftovers, take-overs, stale markers."""
        try:
            upgrade.migrate_own_jobs(runtime.claims, self.book.journal, runtime.folder_set.name)
            upgrade.sweep(runtime.claims, self.book.config.claims.instance_id)
            runtime.claims.release_all_locks()
            for work, dead in runtime.claims.unfinished_takeovers():
                runtime.claims.finish_take_over(work, dead, functools.partial(self._adopt, runtime))
            unfinished = {job.id: job for job in self.book.journal.unfinished_jobs()
                          if job.folder == runtime.folder_set.name}
            needed = {f.marker for job in unfinished.values()
                      for f in self.book.journal.files(job.id)}
            for job_id, ticket in runtime.claims.my_tickets().items():
                job = unfinished.get(job_id)
                if job is None or not _same_job(ticket, job.created_at):
                    # A job that ended before its ticket went (kill -9), or one of a
                    # journal moved aside: a peer must never adopt it as a second job.
                    runtime.claims.drop_ticket(job_id)
                    log.info("recover.stale_ticket_dropped", job_id=job_id)
            for marker in runtime.claims.my_markers():
                if str(marker) not in needed:
                    runtime.claims.release(marker)
        except OSError as exc:
            runtime.watch.set_unavailable(share_fault(exc, exc.filename
                                                      or str(runtime.folder_set.inbox)))
            runtime.watch.on_back = functools.partial(self.recover_share, runtime)  # again
            return
        self._recovered.add(runtime.folder_set.name)
        if all(name in self._recovered for name in self.book.sets):
            self.book.journal.set_meta("legacy_claims", None)  # every 0.1 job is migrated

    def _adopt(self, runtime: FolderSetRuntime, ticket: dict[str, Any]) -> list[tuple[Path, int]]:
        """Journal a dead daemon's job as ours; it then resumes like one of our own.

        Tickets hold no signed URL: a job that still needs one asks VOD again (a
        multipart upload in flight carries on through the authority API).
        """
        job = ticket["job"]
        if job["state"] in FINAL_STATES:
            return []
        for f in ticket["files"]:
            if f.get("final_path"):  # the peer may mount the share elsewhere
                where = runtime.folder_set
                folder = where.failed if job.get("outcome") == JobState.FAILED else where.done
                f["final_path"] = str(folder / Path(f["final_path"]).name)
        if job["state"] == JobState.CLAIMING:
            job["state"] = JobState.CLAIMED
        if job["state"] in (JobState.REQUESTED, JobState.UPLOADING) and any(
                f["state"] not in (FileState.UPLOADED, FileState.REFUSED) and not f.get("upload_id")
                for f in ticket["files"]):
            job["state"] = JobState.REQUESTING
        job_id, files = self.book.journal.import_job(runtime.folder_set.name, ticket,
                                                     runtime.folder_set.inbox)
        if key := job_lock(job["asset_id"], job.get("title")):
            runtime.watch.active_assets.add(key)
        runtime.watch.busy.update(Path(f.inbox_path) for f in files)
        runtime.claims.write_ticket(job_id, runtime.watch.ticket(job_id))
        self.book.job_folder[job_id] = runtime.folder_set.name
        self.book.waiting[job_id] = time.monotonic()
        log.warning("recover.adopted", job_id=job_id, asset_id=job["asset_id"],
                    state=job["state"], files=[f.name for f in files])
        return [(Path(f.marker), job_id) for f in files]

    def keep_lease(self, runtime: FolderSetRuntime) -> None:
        """Renew our lease, notice if we were taken over, and take over dead peers."""
        try:
            lost = runtime.claims.lost_tickets()
        except OSError as exc:  # the share cannot even say whether our folder is there
            runtime.watch.set_unavailable(share_fault(exc, exc.filename
                                                      or str(runtime.claims.mine)))
            return
        if lost:
            self._disown(runtime)
        if not runtime.watch.renew():
            return
        if runtime.folder_set.name not in self._recovered and runtime.watch.on_back is None:
            # Added by a reload while its share was away: recovered once it is here.
            self.recover_share(runtime)
            if not runtime.watch.available:
                return
        for job_id, fut in self.book.running.items():
            if self.book.job_folder.get(job_id) == runtime.folder_set.name and not fut.done():
                # Keep the ticket current (a multipart upload's ID and parts), so a peer
                # that takes over carries the upload on instead of starting again.
                with contextlib.suppress(Exception):
                    runtime.claims.write_ticket(job_id, runtime.watch.ticket(job_id))
        try:
            for dead in runtime.claims.dead_owners():
                runtime.claims.take_over(dead, functools.partial(self._adopt, runtime))
            name = runtime.folder_set.name
            if name not in self._legacy_done and upgrade.sweep(
                    runtime.claims, self.book.config.claims.instance_id):
                self._legacy_done.add(name)  # each share has its own 0.1 leftovers
        except OSError as exc:
            runtime.watch.set_unavailable(share_fault(exc, exc.filename
                                                      or str(runtime.folder_set.inbox)))

    def _disown(self, runtime: FolderSetRuntime) -> None:
        """A peer presumed us dead and carried our jobs on: they are its own now."""
        log.error("claim.taken_over_by_peer", folder=runtime.folder_set.name,
                  hint="this daemon could not renew its lease in time (share cut off or "
                  "slow); a peer carries its jobs on")
        for job in self.book.journal.unfinished_jobs():
            if job.folder != runtime.folder_set.name:
                continue
            fut = self.book.running.get(job.id)
            if fut is not None and not fut.done():
                continue  # it stops at its next step: our lease is not fresh
            self.book.journal.set_job(job.id, state=JobState.ABANDONED,
                                      wait_reason="taken over by a peer")
            self.book.waiting.pop(job.id, None)
            runtime.watch.job_ended([Path(f.inbox_path) for f in self.book.journal.files(job.id)],
                               job_lock(job.asset_id, job.title))
        with contextlib.suppress(OSError):
            runtime.claims.mine.mkdir(parents=False)


def _same_job(ticket: dict[str, Any] | None, created_at: float) -> bool:
    """Is ``ticket`` the one of our journal's job created at ``created_at``? (A journal
    moved aside starts its job ids again.)"""
    job = (ticket or {}).get("job")
    return isinstance(job, dict) and job.get("created_at") == created_at

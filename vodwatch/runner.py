"""Drives one job through its states; the only place the steps are ordered.

Every transition is journaled before the remote call it announces, so that a job
found in any state after a crash, a retry wait or a pause carries on from that
state (vodwatch.states has the table of moves). The steps live by phase in
``step_prepare``, ``step_send`` and ``step_finish``; when a step raises, the pure
table ``decide`` says what happens next and ``run_job`` applies it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog

from .decide import Next, Situation, TakenOver, decide
from .errors import (
    RemoteError,
    TransportError,
    VodwatchError,
)
from .journal import JobRow
from .names import Kind
from .services import Outcome, Services, TurnEnd
from .states import FINAL_STATES, FileState, JobState
from .step_create import _creating, ready_or_create
from .step_finish import (
    _confirmed,
    _confirming,
    _finishing,
    _give_up,
    _ours,
    _to_failed,
)
from .step_prepare import _claimed, _claiming
from .step_send import _requested, _requesting, _Restart, _uploading
from .upload import (
    Interrupted,
)

log = structlog.get_logger("vodwatch.runner")


def run_job(services: Services, job_id: int) -> TurnEnd:
    """Carry a job forward from its journaled state until it ends, waits or pauses.

    The steps raise; ``decide`` (a pure table) says what happens next; this applies it.
    """
    job = services.journal.job(job_id)
    bound = log.bind(job_id=job_id, asset_id=job.asset_id, folder=services.folder)
    started = time.monotonic()
    while True:
        job = services.journal.job(job_id)
        if job.state in FINAL_STATES:
            return JobState(job.state)
        try:
            _STEPS[job.state](services, job)
            continue
        except _Restart:
            continue  # the step moved the state back; run the loop again
        except (VodwatchError, OSError) as exc:
            outcome = _after(services, job, exc, bound)
        finally:
            _keep_ticket(services, job, started)
        if outcome is not None:
            return outcome


def _after(services: Services, job: JobRow, exc: BaseException, bound: Any) -> TurnEnd | None:
    """Apply the verdict on what went wrong; None when the job carries on at once."""
    if not isinstance(exc, (Interrupted, TakenOver)) and job.state != JobState.CLAIMING and (
            not _ours(services, job)):
        exc = TakenOver()  # act on nothing: it is a peer's job now
    # The phase is where the journal says the job is now: a step may have moved it on
    # before it raised (the upload step journals "confirming", then confirms).
    phase = JobState(services.journal.job(job.id).state)
    situation = Situation(exc, phase, job.attempts, job.asset_id,
                          share_present=services.claims.root.is_dir())
    verdict = decide(situation, services.policy)
    if verdict.next is Next.CHECK_STATE:
        try:
            state = services.vod.asset_status(job.asset_id)
        except (RemoteError, TransportError) as query_error:
            situation = replace(situation, error=query_error)
        else:
            situation = replace(situation, asset_state=state)
        verdict = decide(situation, services.policy)
    event, level = _EVENTS[verdict.next]
    getattr(bound, level)(event, state=job.state, reason=verdict.reason, error=str(exc),
                          **({"retry_in": round(verdict.delay, 1), "attempt": job.attempts + 1}
                             if verdict.next is Next.RETRY else {}))
    match verdict.next:
        case Next.STOP:
            return Outcome.INTERRUPTED
        case Next.LEAVE:
            services.journal.set_job(job.id, state=JobState.ABANDONED,
                                     wait_reason="taken over by a peer")
            return JobState.ABANDONED
        case Next.DROP:
            _give_up(services, job, JobState.ABANDONED, verdict.why)
            return JobState.ABANDONED
        case Next.REDO:
            _give_up(services, job, JobState.REQUEUED, verdict.why)
            return JobState.REQUEUED
        case Next.FAIL:
            assert verdict.failure is not None
            _to_failed(services, job, verdict.failure)
            return None
        case Next.ASK_AGAIN:
            # VOD closed the upload: what is not in the store goes again, and so does a
            # video that is (the closed upload dropped it; its confirm is what was refused).
            for f in services.journal.files(job.id):
                if f.state == FileState.UPLOADED and f.kind == Kind.VIDEO:
                    services.journal.set_file(f.id, state=FileState.PENDING, upload_id=None,
                                              part_size=None)
                elif f.state not in (FileState.UPLOADED, FileState.REFUSED):
                    services.journal.set_file(f.id, upload_id=None, part_size=None)
            services.journal.set_job(job.id, state=JobState.REQUESTING, attempts=job.attempts + 1)
            return None
        case Next.PAUSE:
            services.journal.set_pause(services.folder, verdict.reason, verdict.why)
            services.journal.set_job(job.id,
                                     retry_at=services.clock() + services.credentials_recheck,
                                wait_reason=f"paused: {verdict.reason}")
            return Outcome.PAUSED
        case Next.UNAVAILABLE:
            services.journal.set_job(job.id, retry_at=services.clock() + services.policy.look_again,
                                     wait_reason=verdict.why)
            return Outcome.UNAVAILABLE
        case _:
            if services.on_retry is not None:
                services.on_retry(verdict.reason)
            services.journal.set_job(job.id, attempts=job.attempts + 1,
                                retry_at=services.clock() + verdict.delay, wait_reason=verdict.why)
            return Outcome.WAITING


# How each verdict is logged: events, not prose.
_EVENTS: dict[Next, tuple[str, str]] = {
    Next.RETRY: ("job.waiting", "warning"),
    Next.PAUSE: ("folder.paused", "error"),
    Next.CHECK_STATE: ("job.asset_state", "info"),
    Next.ASK_AGAIN: ("job.upload_closed", "warning"),
    Next.REDO: ("job.file_changed", "info"),
    Next.DROP: ("job.file_vanished", "warning"),
    Next.FAIL: ("job.refused", "info"),
    Next.UNAVAILABLE: ("job.share_unavailable", "warning"),
    Next.STOP: ("job.interrupted", "info"),
    Next.LEAVE: ("job.taken_over", "warning"),
}


def _keep_ticket(services: Services, job: JobRow, started: float) -> None:
    """The job's ticket on the share follows its state; a finished job's goes away."""
    state = services.journal.job(job.id).state
    if state in FINAL_STATES:
        services.claims.drop_ticket(job.id)
        _summary(services, job.id, started)
    elif state != job.state and services.ticket is not None:
        services.claims.write_ticket(job.id, services.ticket(job.id))


_STEPS: dict[str, Callable[[Services, JobRow], None]] = {
    JobState.CLAIMING: _claiming,
    JobState.CLAIMED: _claimed,
    JobState.READY: ready_or_create,  # an update, or a new asset (create mode)
    JobState.CREATING: _creating,
    JobState.REQUESTING: _requesting,
    JobState.REQUESTED: _requested,
    JobState.UPLOADING: _uploading,
    JobState.CONFIRMING: _confirming,
    JobState.CONFIRMED: _confirmed,
    JobState.FINISHING: _finishing,
}


def _summary(services: Services, job_id: int, started: float) -> None:
    job = services.journal.job(job_id)
    files = services.journal.files(job_id)
    size = sum(f.size or 0 for f in files)
    took = max(time.monotonic() - started, 1e-6)
    log.info("job.finished", job_id=job_id, asset_id=job.asset_id, outcome=job.state,
             files=[f.name for f in files], bytes=size, duration_s=round(took, 2),
             rate_mb_s=round(size / took / 1e6, 2), attempts=job.attempts + 1)


__all__ = ["Outcome", "Services", "TurnEnd", "VodwatchError", "run_job"]

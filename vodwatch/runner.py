"""Drives one job through its states; the only place the steps are ordered.

Every transition is journaled before the remote call it announces, so that a
job found in any state after a crash, a retry wait or a pause carries on from
that state: ``claiming → claimed → ready → requesting → requested → uploading →
confirming → confirmed → finishing → done | failed`` (or ``requeued`` when the
file changed, ``abandoned`` when it vanished).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog

from . import journal as J
from .claim import Claims
from .errors import (
    AssetStateError,
    FileChanged,
    FileVanished,
    RemoteError,
    TransportError,
    VodwatchError,
)
from .explain import (
    MISSING,
    UPDATABLE,
    UPLOADING,
    remote_failure,
    state_failure,
    state_words,
    uploadable_problem,
)
from .finish import Failure, settle_move, unique_target, write_error_file
from .group import ReadyFile, pair_upload_urls, update_request
from .journal import FileRow, JobRow, Journal
from .names import Kind, ParsedName, parse_name
from .retry import Action, RetryPolicy, classify
from .upload import ExpiredUrl, Interrupted, Progress, Uploader, check_unchanged, hash_file
from .vod.api import VodClient
from .vod.obs import parse_object_url, url_expires

log = structlog.get_logger("vodwatch.runner")

# How often one job may go back to UpdateAsset before it is called a failure.
MAX_REREQUESTS = 5


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    WAITING = "waiting"  # transient trouble; retry_at is set
    PAUSED = "paused"  # credentials/permission: the folder set is paused
    REQUEUED = "requeued"
    ABANDONED = "abandoned"
    INTERRUPTED = "interrupted"  # shutdown; the journal holds the checkpoint


@dataclass
class Services:
    """What a job needs from its folder set."""

    folder: str
    done_dir: Path
    failed_dir: Path
    journal: Journal
    vod: VodClient
    uploader: Uploader
    claims: Claims
    policy: RetryPolicy
    language_map: Any
    multipart_threshold: int
    credentials_recheck: float = 60.0
    stop: threading.Event = field(default_factory=threading.Event)
    progress: dict[int, Progress] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    on_outcome: Callable[[JobRow, list[FileRow]], None] | None = None
    on_retry: Callable[[str], None] | None = None


class _Fail(Exception):
    """Internal: finish the job as failed with this explanation."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.sentence)
        self.failure = failure


def run_job(svc: Services, job_id: int) -> Outcome:
    """Carry a job forward from its journaled state until it ends, waits or pauses."""
    job = svc.journal.job(job_id)
    bound = log.bind(job_id=job_id, asset_id=job.asset_id, folder=svc.folder)
    started = time.monotonic()
    while True:
        job = svc.journal.job(job_id)
        if job.state in J.FINAL_STATES:
            return Outcome(job.state)
        try:
            _STEPS[job.state](svc, job)
        except _Restart:
            continue  # the step moved the state back; run the loop again
        except Interrupted:
            bound.info("job.interrupted", state=job.state)
            return Outcome.INTERRUPTED
        except FileVanished as exc:
            if not svc.claims.mine.is_dir():
                # The whole share went away: an outage, not a deletion.
                return _wait(svc, job, exc, "share unavailable")
            bound.warning("job.file_vanished", state=job.state, error=str(exc))
            _give_up(svc, job, J.ABANDONED, str(exc))
            return Outcome.ABANDONED
        except FileChanged as exc:
            bound.info("job.file_changed", state=job.state, error=str(exc))
            _give_up(svc, job, J.REQUEUED, str(exc))
            return Outcome.REQUEUED
        except AssetStateError as exc:
            _to_failed(svc, job, state_failure(exc))
        except _Fail as exc:
            _to_failed(svc, job, exc.failure)
        except (RemoteError, TransportError) as exc:
            decision = classify(exc)
            if decision.action is Action.PAUSE:
                svc.journal.set_pause(svc.folder, decision.reason, str(exc))
                svc.journal.set_job(job_id, retry_at=svc.clock() + svc.credentials_recheck,
                                    wait_reason=f"paused: {decision.reason}")
                bound.error("folder.paused", reason=decision.reason, error=str(exc))
                return Outcome.PAUSED
            if decision.action is Action.RETRY or decision.action is Action.REAUTHORIZE:
                return _wait(svc, job, exc, decision.reason)
            if decision.action is Action.STATE and isinstance(exc, RemoteError):
                state_error = _asset_state(svc, job, exc)
                if state_error.state in UPDATABLE and job.attempts < MAX_REREQUESTS and (
                        job.state in (J.REQUESTED, J.UPLOADING)):
                    # The upload was closed under us (cancelled elsewhere): ask again.
                    bound.warning("job.upload_closed", state=state_error.state,
                                  error=str(exc))
                    for f in svc.journal.files(job_id):
                        if f.state != "uploaded":
                            svc.journal.set_file(f.id, upload_id=None, part_size=None)
                    svc.journal.set_job(job_id, state=J.REQUESTING, attempts=job.attempts + 1)
                    continue
                if state_error.state in UPLOADING and job.attempts < MAX_REREQUESTS and (
                        job.state in (J.REQUESTED, J.UPLOADING, J.CONFIRMING)):
                    # VOD's answer contradicts the asset's state: give it a moment.
                    return _wait(svc, job, exc, "asset_state")
                _to_failed(svc, job, state_failure(state_error))
            else:
                _to_failed(svc, job, remote_failure(job.asset_id, exc, decision.explain,
                                                     decision.advice))
        except OSError as exc:
            # A folder we must write to is unwritable or gone: keep the file, say so loudly.
            bound.error("job.filesystem_error", state=job.state, error=str(exc))
            return _wait(svc, job, exc, "filesystem")
        finally:
            state = svc.journal.job(job_id).state
            if state in J.FINAL_STATES:
                svc.claims.drop_ticket(job_id)
                _summary(svc, job_id, started)
            elif state != job.state:
                svc.claims.write_ticket(job_id, svc.journal.export_job(job_id))


def _wait(svc: Services, job: JobRow, exc: BaseException, reason: str) -> Outcome:
    attempts = job.attempts + 1
    if svc.on_retry is not None:
        svc.on_retry(reason)
    retry_after = getattr(getattr(exc, "fault", None), "retry_after", None)
    delay = svc.policy.delay(attempts, retry_after)
    svc.journal.set_job(job.id, attempts=attempts, retry_at=svc.clock() + delay,
                        wait_reason=f"{reason}: {exc}")
    log.warning("job.waiting", job_id=job.id, asset_id=job.asset_id, reason=reason,
                attempt=attempts, retry_in=round(delay, 1), error=str(exc))
    return Outcome.WAITING


# ---- steps ---------------------------------------------------------------------------

def _claiming(svc: Services, job: JobRow) -> None:
    """Settle what the claim renames achieved: keep what is ours, forget the rest."""
    kept = 0
    for f in svc.journal.files(job.id):
        if Path(f.claim_path).exists() or Path(f.claim_path).is_symlink():
            kept += 1
        else:
            svc.journal.drop_file(f.id)
    svc.journal.set_job(job.id, state=J.CLAIMED if kept else J.ABANDONED)


def _claimed(svc: Services, job: JobRow) -> None:
    """Check each file is uploadable, hash it, and make sure the asset can take the update."""
    if job.outcome == "failed":  # decided before the claim (e.g. still being written)
        svc.journal.set_job(job.id, state=J.FINISHING)
        return
    files = svc.journal.files(job.id)
    for f in files:
        path = Path(f.claim_path)
        _check_uploadable(svc, f, path, job)
        if f.md5:
            try:
                check_unchanged(path, f)
                continue
            except FileChanged:
                pass
        md5, snap = hash_file(path, svc.stop)
        svc.journal.set_file(f.id, md5=md5, size=snap.size, mtime_ns=snap.mtime_ns,
                             ctime_ns=snap.ctime_ns, ino=snap.ino)
    if job.has_video:
        status = svc.vod.asset_status(job.asset_id)
        if status in UPLOADING:
            # We hold the asset's lock, so no vodwatch is uploading it: an upload left
            # open by a crashed or dead daemon. Close it so the asset can be updated.
            log.warning("asset.open_upload_cancelled", asset_id=job.asset_id, state=status)
            _cancel_upload(svc, job.asset_id)
        elif status not in UPDATABLE:
            raise AssetStateError(job.asset_id, status, *state_words(job.asset_id, status))
    svc.journal.set_job(job.id, state=J.READY)


def _check_uploadable(svc: Services, f: FileRow, path: Path, job: JobRow) -> None:
    failure = uploadable_problem(f.name, path, svc.language_map, job.asset_id)
    if failure is not None:
        raise _Fail(failure)


def _ready(svc: Services, job: JobRow) -> None:
    svc.journal.set_job(job.id, state=J.REQUESTING)
    _send_update(svc, job)


def _requesting(svc: Services, job: JobRow) -> None:
    """UpdateAsset may have taken effect before we lost its answer: check, then ask again."""
    pending = [f for f in svc.journal.files(job.id) if f.state not in ("uploaded", "refused")]
    if any(f.kind == Kind.VIDEO for f in pending):
        status = svc.vod.asset_status(job.asset_id)
        if status in UPLOADING:
            log.info("job.update_took_effect", job_id=job.id, asset_id=job.asset_id,
                     action="cancel the open upload and ask again")
            _cancel_upload(svc, job.asset_id)
        elif status in MISSING:
            raise AssetStateError(job.asset_id, status, *state_words(job.asset_id, status))
    _send_update(svc, job)


def _send_update(svc: Services, job: JobRow) -> None:
    files = [f for f in svc.journal.files(job.id) if f.state not in ("uploaded", "refused")]
    ready = []
    for f in files:
        assert f.md5 is not None and f.size is not None
        ready.append(ReadyFile(_parsed(svc, f), Path(f.claim_path), f.size, f.md5))
    body = update_request(job.asset_id, ready)
    try:
        answer = svc.vod.update_asset(body)
    except RemoteError as exc:
        if exc.code == "VOD.10061":
            raise _asset_state(svc, job, exc) from None
        raise
    svc.journal.store_urls(job.id, _urls_for(files, ready, answer, job))


def _urls_for(files: list[FileRow], ready: list[ReadyFile], answer: dict[str, Any],
              job: JobRow) -> list[tuple[int, str, float | None, str | None, str | None]]:
    """Each file's upload URL from UpdateAsset's answer, with its expiry, bucket and key."""
    try:
        by_name = {rf.parsed.name: url for rf, url in pair_upload_urls(answer, ready)}
    except ValueError as exc:
        raise _Fail(Failure(f"VOD's answer was incomplete: {exc}.",
                            "report this; the file is not at fault",
                            asset_id=job.asset_id)) from None
    out: list[tuple[int, str, float | None, str | None, str | None]] = []
    for f in files:
        url = by_name[f.name]
        bucket, key = parse_object_url(url)
        out.append((f.id, url, url_expires(url), bucket, key))
    return out


def _requested(svc: Services, job: JobRow) -> None:
    svc.journal.set_job(job.id, state=J.UPLOADING)


def _uploading(svc: Services, job: JobRow) -> None:
    """Send every file not yet sent; then check none changed meanwhile."""
    files = svc.journal.files(job.id)
    for f in files:
        if f.state in ("uploaded", "refused"):
            continue
        path = Path(f.claim_path)
        check_unchanged(path, f)
        parsed = _parsed(svc, f)
        assert f.size is not None
        progress = Progress(f.name, job.asset_id, f.size)
        svc.progress[f.id] = progress
        if f.upload_started_at is None:
            svc.journal.set_file(f.id, upload_started_at=svc.clock())
        try:
            if f.kind == Kind.VIDEO and (f.size > svc.multipart_threshold or f.upload_id):
                svc.uploader.put_multipart(svc.journal.file(f.id), path, parsed.content_type,
                                           progress)
            else:
                try:
                    svc.uploader.put_single(f, path, parsed.content_type, progress)
                except (ExpiredUrl, RemoteError) as exc:
                    decision = classify(exc) if isinstance(exc, RemoteError) else None
                    if decision is not None and decision.action is Action.FAIL and (
                            f.kind != Kind.VIDEO):
                        # The store refused this cover or subtitle for good: it fails
                        # alone, and the other files of the asset carry on.
                        assert isinstance(exc, RemoteError)
                        failure = remote_failure(job.asset_id, exc, decision.explain,
                                                 decision.advice)
                        svc.journal.set_file(f.id, state="refused",
                                             error=json.dumps(failure.__dict__))
                        log.warning("upload.file_refused", file=f.name, error=str(exc))
                        continue
                    if decision is not None and decision.action is not Action.REAUTHORIZE:
                        raise
                    _reauthorize(svc, job, f, path, parsed, progress)
        finally:
            svc.progress.pop(f.id, None)
        svc.journal.set_file(f.id, state="uploaded", bytes_sent=f.size,
                             progress_at=svc.clock())
        log.info("upload.file_sent", file=f.name, asset_id=job.asset_id, bytes=f.size)
    for f in svc.journal.files(job.id):
        check_unchanged(Path(f.claim_path), f)
    video_sent = any(f.kind == Kind.VIDEO and f.state != "refused" for f in files)
    svc.journal.set_job(job.id, state=J.CONFIRMING if video_sent else J.CONFIRMED)
    if video_sent:
        _confirm(svc, svc.journal.job(job.id), fresh=True)


def _reauthorize(svc: Services, job: JobRow, f: FileRow, path: Path, parsed: ParsedName,
                 progress: Progress) -> None:
    """A signed URL expired: a video goes through the authority API; others ask again."""
    if f.kind == Kind.VIDEO and f.bucket and f.object_key:
        log.info("upload.url_expired", file=f.name, action="multipart via authority")
        svc.uploader.put_multipart(svc.journal.file(f.id), path, parsed.content_type,
                                   progress)
        return
    log.info("upload.url_expired", file=f.name, action="ask VOD for a new URL")
    svc.journal.set_job(job.id, state=J.REQUESTING, attempts=job.attempts + 1)
    raise _Restart()


class _Restart(Exception):
    """Internal: the job's state was moved back; run the loop again."""


def _confirming(svc: Services, job: JobRow) -> None:
    _confirm(svc, job, fresh=False)


def _confirm(svc: Services, job: JobRow, *, fresh: bool) -> None:
    """Confirm the video upload; a confirm whose answer was lost is checked, not repeated."""
    if not fresh:
        status = svc.vod.asset_status(job.asset_id)
        if status not in UPLOADING:
            log.info("job.confirm_took_effect", job_id=job.id, asset_id=job.asset_id,
                     state=status)
            svc.journal.set_job(job.id, state=J.CONFIRMED)
            return
    try:
        svc.vod.confirm(job.asset_id, "CREATED")
    except RemoteError as exc:
        if exc.code != "VOD.10126":
            raise
        status = svc.vod.asset_status(job.asset_id)
        if status in UPLOADING or status in UPDATABLE or status in MISSING:
            raise AssetStateError(job.asset_id, status, *state_words(job.asset_id, status),
                                  fault=exc.fault) from None
    svc.journal.set_job(job.id, state=J.CONFIRMED)
    log.info("job.confirmed", job_id=job.id, asset_id=job.asset_id)


def _confirmed(svc: Services, job: JobRow) -> None:
    svc.journal.set_job(job.id, state=J.FINISHING, outcome="done")


def _finishing(svc: Services, job: JobRow) -> None:
    """Move every file to done/ or failed/; the target is journaled before the move."""
    for f in svc.journal.files(job.id):
        if f.state in ("done", "failed"):
            continue  # moved before a crash or a retry
        failed = job.outcome == "failed" or f.error is not None
        directory = svc.failed_dir if failed else svc.done_dir
        claim = Path(f.claim_path)
        if f.final_path:
            target = Path(f.final_path)
        else:
            target = unique_target(directory, f.name)
            svc.journal.set_file(f.id, final_path=str(target))
        try:
            moved = settle_move(claim, target)
        except FileExistsError:
            # Someone put a file there between our choice and the move: choose again.
            target = unique_target(directory, f.name)
            svc.journal.set_file(f.id, final_path=str(target))
            moved = settle_move(claim, target)
        if not moved:
            log.warning("finish.file_missing", file=f.name, asset_id=job.asset_id)
            continue
        if failed:
            err = json.loads(f.error or job.outcome_reason or "{}")
            write_error_file(target, Failure(**err) if err else Failure(
                "the upload failed", "look at the daemon's log", asset_id=job.asset_id))
        svc.journal.set_file(f.id, state="failed" if failed else "done")
        svc.journal.event(svc.folder, "failed" if failed else "done", job_id=job.id,
                          asset_id=job.asset_id, file=f.name,
                          detail=str(target.name) if not failed else json.loads(
                              f.error or job.outcome_reason or "{}").get("sentence", ""))
        log.info("file.failed" if failed else "file.done", file=f.name,
                 asset_id=job.asset_id, to=str(target))
    svc.journal.set_job(job.id, state=J.FAILED if job.outcome == "failed" else J.DONE)
    svc.claims.unlock_asset(job.asset_id)
    if svc.on_outcome is not None:
        svc.on_outcome(svc.journal.job(job.id),
                       svc.journal.files(job.id))


_STEPS: dict[str, Callable[[Services, JobRow], None]] = {
    J.CLAIMING: _claiming,
    J.CLAIMED: _claimed,
    J.READY: _ready,
    J.REQUESTING: _requesting,
    J.REQUESTED: _requested,
    J.UPLOADING: _uploading,
    J.CONFIRMING: _confirming,
    J.CONFIRMED: _confirmed,
    J.FINISHING: _finishing,
}


# ---- endings other than done ---------------------------------------------------------

def _to_failed(svc: Services, job: JobRow, failure: Failure) -> None:
    """Journal the failure; the finishing step then moves the files with error files."""
    files = svc.journal.files(job.id)
    for f in files:
        if f.upload_id:
            svc.uploader.abort_multipart(f)
    reason = json.dumps(failure.__dict__)
    svc.journal.set_job(job.id, state=J.FINISHING, outcome="failed", outcome_reason=reason,
                        error_code=failure.code or None, error_msg=failure.remote_msg or None)
    log.warning("job.failed", job_id=job.id, asset_id=job.asset_id, reason=failure.sentence,
                code=failure.code or None)


def _give_up(svc: Services, job: JobRow, state: str, why: str) -> None:
    """Close any open upload and hand the files still here back to the inbox."""
    files = svc.journal.files(job.id)
    if job.asset_id and not svc.claims.holds_or_free(job.asset_id):
        # Another daemon took this job over while we were away: its upload, not ours.
        svc.journal.set_job(job.id, state=J.ABANDONED, wait_reason="taken over")
        return
    try:
        for f in files:
            if f.upload_id:
                svc.uploader.abort_multipart(f)
        if job.state in (J.REQUESTING, J.REQUESTED, J.UPLOADING, J.CONFIRMING) and any(
                f.kind == Kind.VIDEO for f in files):
            _cancel_upload(svc, job.asset_id)
    except (RemoteError, TransportError) as exc:
        log.info("job.cancel_failed", job_id=job.id, error=str(exc))
    for f in files:
        claim = Path(f.claim_path)
        if claim.exists() and svc.claims.give_back(claim, f.name) is None:
            # A newer file of the same name is waiting in the inbox: this one is stale.
            failure = Failure("a newer file with the same name arrived while this one "
                              "was being sent", "nothing to do unless this version was "
                              "the one wanted", asset_id=job.asset_id)
            svc.journal.set_file(f.id, error=json.dumps(failure.__dict__))
    if any(f.error for f in svc.journal.files(job.id)):
        svc.journal.set_job(job.id, state=J.FINISHING, outcome="failed")
        return
    svc.journal.set_job(job.id, state=state, wait_reason=why)
    svc.journal.event(svc.folder, state, job_id=job.id, asset_id=job.asset_id, detail=why)
    svc.claims.unlock_asset(job.asset_id)


def _cancel_upload(svc: Services, asset_id: str) -> None:
    """Confirm CANCELLED so the asset can be updated again; fine if it is not open."""
    try:
        svc.vod.confirm(asset_id, "CANCELLED")
    except RemoteError as exc:
        if exc.code != "VOD.10126":
            raise


def _asset_state(svc: Services, job: JobRow, exc: RemoteError) -> AssetStateError:
    status = svc.vod.asset_status(job.asset_id)
    return AssetStateError(job.asset_id, status, *state_words(job.asset_id, status),
                           fault=exc.fault)


def _parsed(svc: Services, f: FileRow) -> ParsedName:
    return parse_name(f.name, svc.language_map)


def _summary(svc: Services, job_id: int, started: float) -> None:
    job = svc.journal.job(job_id)
    files = svc.journal.files(job_id)
    size = sum(f.size or 0 for f in files)
    took = max(time.monotonic() - started, 1e-6)
    log.info("job.finished", job_id=job_id, asset_id=job.asset_id, outcome=job.state,
             files=[f.name for f in files], bytes=size, duration_s=round(took, 2),
             rate_mb_s=round(size / took / 1e6, 2), attempts=job.attempts + 1)


__all__ = ["Outcome", "Services", "VodwatchError", "run_job"]

"""Steps 8-9 of a job and its other endings: the video confirmed (only with a fresh lease,
only for unchanged files), the files moved to done/ or failed/, a job given up or failed.
"""

from __future__ import annotations

import contextlib
import errno
import json
from pathlib import Path

import structlog

from . import journal as J
from .decide import LeaseLost, MoveRefused, TakenOver
from .errors import (
    AssetStateError,
    RemoteError,
    TransportError,
    VodwatchError,
)
from .explain import (
    MISSING,
    UPDATABLE,
    UPLOADING,
    state_words,
    unknown_failure,
)
from .finish import (
    Failure,
    failed_detail,
    remove_error_files_about,
    settle_move,
    unique_target,
    write_error_file,
)
from .identity import Snapshot
from .journal import FileRow, JobRow
from .names import Kind
from .services import Services, cancel_upload, still_same, unlock
from .share_faults import probe_write, refusing_folder
from .titles import job_lock, write_mapping

log = structlog.get_logger("vodwatch.runner")


def _confirming(svc: Services, job: JobRow) -> None:
    _confirm(svc, job, fresh=False)


def _confirm(svc: Services, job: JobRow, *, fresh: bool) -> None:
    """Confirm the video upload; a confirm whose answer was lost is checked, not repeated.

    Only with a fresh lease, and only for files that are still what was sent.
    """
    _fence(svc, job)
    if not fresh:
        for f in svc.journal.files(job.id):
            if f.state != "refused":
                still_same(svc, f)
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
    _fence(svc, job)
    for f in svc.journal.files(job.id):
        if f.state in ("done", "failed"):
            continue  # moved before a crash or a retry
        failed = job.outcome == "failed" or f.error is not None
        directory = svc.failed_dir if failed else svc.done_dir
        source = Path(f.inbox_path)
        if f.final_path:
            target = Path(f.final_path)
        else:
            target = unique_target(directory, f.name)
            svc.journal.set_file(f.id, final_path=str(target))
        try:
            moved = _move(source, target, directory)
        except FileExistsError:
            # Someone put a file there between our choice and the move: choose again.
            target = unique_target(directory, f.name)
            svc.journal.set_file(f.id, final_path=str(target))
            moved = _move(source, target, directory)
        svc.claims.release(Path(f.marker))
        if not moved:
            log.warning("finish.file_missing", file=f.name, asset_id=job.asset_id)
            continue
        if failed:
            err = json.loads(f.error or job.outcome_reason or "{}")
            write_error_file(target, Failure(**err) if err else unknown_failure(job.asset_id))
        else:
            _say_if_changed_at_the_move(f, target)
            # No error file may say it failed once it is delivered: its own, and those of
            # names it had in failed/ before it was moved back by hand.
            with contextlib.suppress(OSError):  # failed/ unreadable: not this file's fault
                remove_error_files_about(svc.failed_dir, f.name, svc.language_map)
        svc.journal.set_file(f.id, state="failed" if failed else "done")
        svc.journal.event(svc.folder, "failed" if failed else "done", job_id=job.id,
                          asset_id=job.asset_id, file=f.name,
                          detail=str(target.name) if not failed else failed_detail(json.loads(
                              f.error or job.outcome_reason or "{}").get("sentence", ""),
                              target.name))
        log.info("file.failed" if failed else "file.done", file=f.name,
                 asset_id=job.asset_id, to=str(target))
    for f in svc.journal.files(job.id):
        svc.claims.release(Path(f.marker))
    if job.title and job.asset_id:
        write_mapping(svc.claims.inbox, job.title, asset_id=job.asset_id)
    svc.journal.set_job(job.id, state=J.FAILED if job.outcome == "failed" else J.DONE)
    unlock(svc, job)
    if svc.on_outcome is not None:
        svc.on_outcome(svc.journal.job(job.id),
                       svc.journal.files(job.id))


def _move(source: Path, target: Path, directory: Path) -> bool:
    """Move a finished file; MoveRefused when only the file itself refuses (open by an editor)."""
    try:
        return settle_move(source, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENOSPC, errno.EROFS, errno.EIO,
                         errno.ESTALE, errno.ENOTCONN):
            # A move's error names the file being moved; say which folder refused.
            raise refusing_folder(exc, (directory, source.parent)) from None
        probe_write(directory)  # OSError here: the folder is the problem, not the file
        raise MoveRefused(f"{source.name} is delivered but cannot be moved yet ({exc.strerror})",
                          "it is moved as soon as nobody has it open") from None


def _ours(svc: Services, job: JobRow) -> bool:
    """True while every unfinished file's marker is ours (or the share is away: that is
    an outage, said elsewhere, not a take-over)."""
    if not svc.claims.root.is_dir():
        return True
    return all(svc.claims.owns(Path(f.marker)) for f in svc.journal.files(job.id)
               if f.state not in ("done", "failed"))


def _fence(svc: Services, job: JobRow) -> None:
    """Act on the share only with a fresh lease, the share in place, and the job ours."""
    if not svc.claims.root.is_dir():
        raise FileNotFoundError(errno.ENOENT, "the share's hidden folder is gone",
                                str(svc.claims.root))
    if not svc.claims.fenced():
        raise LeaseLost("our lease on the share is not fresh (is the share slow or cut off?)",
                        "vodwatch renews it and carries on")
    if not _ours(svc, job):
        raise TakenOver()




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
    """Close any open upload and let the files in the inbox wait for a new job."""
    files = svc.journal.files(job.id)
    if job_lock(job.asset_id, job.title) and not svc.claims.holds_or_free(
            job_lock(job.asset_id, job.title)):
        # Another daemon took this job over while we were away: its upload, not ours.
        svc.journal.set_job(job.id, state=J.ABANDONED, wait_reason="taken over")
        return
    try:
        for f in files:
            if f.upload_id:
                svc.uploader.abort_multipart(f)
        if job.asset_id and job.state in (J.REQUESTING, J.REQUESTED, J.UPLOADING,
                                          J.CONFIRMING) and any(
                f.kind == Kind.VIDEO for f in files):
            cancel_upload(svc, job.asset_id)
    except (RemoteError, TransportError) as exc:
        log.info("job.cancel_failed", job_id=job.id, error=str(exc))
    svc.journal.set_job(job.id, state=state, wait_reason=why)
    for f in files:
        svc.claims.release(Path(f.marker))
    svc.journal.event(svc.folder, state, job_id=job.id, asset_id=job.asset_id, detail=why)
    unlock(svc, job)


def _say_if_changed_at_the_move(f: FileRow, target: Path) -> None:
    """A writer that rewrote the file in the instant between the last check and the move
    leaves in done/ other bytes than VOD has: that cannot be undone, but it is said."""
    with contextlib.suppress(OSError, VodwatchError):
        now = Snapshot.of(target)
        if f.size is not None and (now.size, now.mtime_ns) != (f.size, f.mtime_ns):
            log.error("file.changed_at_move", file=f.name, to=str(target),
                      hint="the file in done/ is not what VOD received (it was rewritten "
                      "while it was being moved); drop it again to send this version")

"""Steps 8-9 of a job and its other endings: the video confirmed (only with a fresh lease,
only for unchanged files), the files moved to done/ or failed/, a job given up or failed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from dataclasses import replace
from pathlib import Path

import structlog

from .decide import LeaseLost, MoveRefused, TakenOver
from .errors import (
    RemoteError,
    TransportError,
    VodwatchError,
)
from .explain import (
    FAILED_WAITING_TO_MOVE,
    MISSING,
    UPDATABLE,
    UPLOADING,
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
from .states import FileState, JobState
from .titles import job_lock, write_mapping

log = structlog.get_logger("vodwatch.runner")


def _confirming(services: Services, job: JobRow) -> None:
    _confirm(services, job, fresh=False)


def _confirm(services: Services, job: JobRow, *, fresh: bool) -> None:
    """Confirm the video upload; a confirm whose answer was lost is checked, not repeated.

    Only with a fresh lease, and only for files that are still what was sent.
    """
    _fence(services, job)
    if not fresh:
        for f in services.journal.files(job.id):
            if f.state != FileState.REFUSED:
                still_same(services, f)
        status = services.vod.asset_status(job.asset_id)
        if not _open_or_closed(status):
            log.info("job.confirm_took_effect", job_id=job.id, asset_id=job.asset_id,
                     state=status)
            services.journal.set_job(job.id, state=JobState.CONFIRMED)
            return
        # Still open: confirm. Closed (cancelled elsewhere) or gone: the confirm is
        # refused, and decide says what follows (ask again, or fail).
    try:
        services.vod.confirm(job.asset_id, "CREATED")
    except RemoteError as exc:
        if exc.code != "VOD.10126" or _open_or_closed(services.vod.asset_status(job.asset_id)):
            raise
        # The asset is past its upload: the confirm took effect before (a lost answer).
    services.journal.set_job(job.id, state=JobState.CONFIRMED)
    log.info("job.confirmed", job_id=job.id, asset_id=job.asset_id)


def _open_or_closed(status: str) -> bool:
    """The asset's upload is still open, was closed without our confirm, or the asset is
    gone: anything else means VOD took the upload (processing, done or published)."""
    return status in UPLOADING or status in UPDATABLE or status in MISSING


def _confirmed(services: Services, job: JobRow) -> None:
    services.journal.set_job(job.id, state=JobState.FINISHING, outcome=JobState.DONE)


def _finishing(services: Services, job: JobRow) -> None:
    """Move every file to done/ or failed/; the target is journaled before the move."""
    _fence(services, job)
    files = services.journal.files(job.id)
    for f in files:
        if f.state in (FileState.DONE, FileState.FAILED):
            continue  # moved before a crash or a retry
        failed = job.outcome == JobState.FAILED or f.error is not None
        directory = services.failed_dir if failed else services.done_dir
        source = Path(f.inbox_path)
        if f.final_path and not (failed and _not_moved_yet(source, Path(f.final_path))):
            target = Path(f.final_path)
        else:
            if failed:
                # A file moved back by hand that fails again: its old error file (now an
                # orphan) would reserve its name; the new error file replaces it. When
                # failed/ refused that (read-only), the name is chosen again at the next
                # try, so the file does not end as `` (2)`` beside an orphan.
                _forget_old_failures(services, f.name)
            target = unique_target(directory, f.name)
            if str(target) != f.final_path:
                services.journal.set_file(f.id, final_path=str(target))
        try:
            moved = _move(source, target, directory, to_failed=failed)
        except FileExistsError:
            # Someone put a file there between our choice and the move: choose again.
            target = unique_target(directory, f.name)
            services.journal.set_file(f.id, final_path=str(target))
            moved = _move(source, target, directory, to_failed=failed)
        services.claims.release(Path(f.marker))
        if not moved:
            log.warning("finish.file_missing", file=f.name, asset_id=job.asset_id)
            continue
        if failed:
            err = json.loads(f.error or job.outcome_reason or "{}")
            failure = Failure(**err) if err else unknown_failure(job.asset_id)
            write_error_file(target, failure if f.error else _not_sent(failure, f, files))
        else:
            _say_if_changed_at_the_move(f, target)
            # No error file may say it failed once it is delivered: its own, and those of
            # names it had in failed/ before it was moved back by hand.
            _forget_old_failures(services, f.name)
        services.journal.set_file(f.id, state=FileState.FAILED if failed else FileState.DONE)
        services.journal.event(services.folder, "failed" if failed else "done", job_id=job.id,
                          asset_id=job.asset_id, file=f.name,
                          detail=str(target.name) if not failed else failed_detail(json.loads(
                              f.error or job.outcome_reason or "{}").get("sentence", ""),
                              target.name))
        log.info("file.failed" if failed else "file.done", file=f.name,
                 asset_id=job.asset_id, to=str(target))
    for f in services.journal.files(job.id):
        services.claims.release(Path(f.marker))
    if job.title and job.asset_id:
        write_mapping(services.claims.inbox, job.title, asset_id=job.asset_id)
    services.journal.set_job(job.id, state=JobState.FAILED
                             if job.outcome == JobState.FAILED else JobState.DONE)
    unlock(services, job)
    if services.on_outcome is not None:
        services.on_outcome(services.journal.job(job.id),
                       services.journal.files(job.id))


def _not_sent(failure: Failure, f: FileRow, files: list[FileRow]) -> Failure:
    """The job failed while another of its files was being sent, before ``f`` was: ``f``
    is said to be unsent because of that file, not to have met the error itself."""
    culprit = next((g for g in files if g.upload_started_at is not None
                    and g.state not in (FileState.UPLOADED, FileState.REFUSED)), None)
    if f.upload_started_at is not None or culprit is None or culprit.id == f.id:
        return failure
    return replace(failure, sentence=(
        f"{f.name} was not sent, because sending {culprit.name} failed first "
        f"({failure.sentence.rstrip('.')})."),
        todo=f"Put it back in the inbox together with {culprit.name} once that is fixed.")


def _not_moved_yet(source: Path, target: Path) -> bool:
    """The file is still only in the inbox: its target may be chosen again."""
    return os.path.lexists(source) and not os.path.lexists(target)


def _forget_old_failures(services: Services, name: str) -> None:
    """Remove the error files in failed/ about ``name`` whose file has left failed/."""
    with contextlib.suppress(OSError):  # failed/ unreadable: not this file's fault
        removed = remove_error_files_about(services.failed_dir, name, services.language_map)
        if removed:
            log.info("finish.old_error_files_removed", file=name,
                     removed=[p.name for p in removed])


def _move(source: Path, target: Path, directory: Path, *, to_failed: bool) -> bool:
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
        if to_failed:
            raise FailedMoveRefused(f"{source.name} failed but cannot be moved to failed/ yet "
                                    f"({exc.strerror})",
                                    "it is moved as soon as nobody has it open") from None
        raise MoveRefused(f"{source.name} is delivered but cannot be moved yet ({exc.strerror})",
                          "it is moved as soon as nobody has it open") from None


class FailedMoveRefused(MoveRefused):
    """failed/ is writable but a failed file cannot be moved there now: it is not
    delivered, and status must not say so."""

    reason = FAILED_WAITING_TO_MOVE


def _ours(services: Services, job: JobRow) -> bool:
    """True while every unfinished file's marker is ours (or the share is away: that is
    an outage, said elsewhere, not a take-over)."""
    if not services.claims.root.is_dir():
        return True
    return all(services.claims.owns(Path(f.marker)) for f in services.journal.files(job.id)
               if f.state not in (FileState.DONE, FileState.FAILED))


def _fence(services: Services, job: JobRow) -> None:
    """Act on the share only with a fresh lease, the share in place, and the job ours."""
    if not services.claims.root.is_dir():
        raise FileNotFoundError(errno.ENOENT, "the share's hidden folder is gone",
                                str(services.claims.root))
    if not services.claims.fenced():
        raise LeaseLost("our lease on the share is not fresh (is the share slow or cut off?)",
                        "vodwatch renews it and carries on")
    if not _ours(services, job):
        raise TakenOver()




# ---- endings other than done ---------------------------------------------------------

def _to_failed(services: Services, job: JobRow, failure: Failure) -> None:
    """Journal the failure; the finishing step then moves the files with error files."""
    files = services.journal.files(job.id)
    for f in files:
        if f.upload_id:
            services.uploader.abort_multipart(f)
    reason = json.dumps(failure.__dict__)
    services.journal.set_job(job.id, state=JobState.FINISHING, outcome=JobState.FAILED,
                             outcome_reason=reason,
                        error_code=failure.code or None, error_msg=failure.remote_msg or None)
    log.warning("job.failed", job_id=job.id, asset_id=job.asset_id, reason=failure.sentence,
                code=failure.code or None)


def _give_up(services: Services, job: JobRow, state: str, why: str) -> None:
    """Close any open upload and let the files in the inbox wait for a new job."""
    files = services.journal.files(job.id)
    if job_lock(job.asset_id, job.title) and not services.claims.holds_or_free(
            job_lock(job.asset_id, job.title)):
        # Another daemon took this job over while we were away: its upload, not ours.
        services.journal.set_job(job.id, state=JobState.ABANDONED, wait_reason="taken over")
        return
    try:
        for f in files:
            if f.upload_id:
                services.uploader.abort_multipart(f)
        if job.asset_id and job.state in (JobState.REQUESTING, JobState.REQUESTED,
                                          JobState.UPLOADING,
                                          JobState.CONFIRMING) and any(
                f.kind == Kind.VIDEO for f in files):
            cancel_upload(services, job.asset_id)
    except (RemoteError, TransportError) as exc:
        log.info("job.cancel_failed", job_id=job.id, error=str(exc))
    services.journal.set_job(job.id, state=state, wait_reason=why)
    for f in files:
        services.claims.release(Path(f.marker))
    services.journal.event(services.folder, state, job_id=job.id, asset_id=job.asset_id, detail=why)
    unlock(services, job)


def _say_if_changed_at_the_move(f: FileRow, target: Path) -> None:
    """A writer that rewrote the file in the instant between the last check and the move
    leaves in done/ other bytes than VOD has: that cannot be undone, but it is said."""
    with contextlib.suppress(OSError, VodwatchError):
        now = Snapshot.of(target)
        if f.size is not None and (now.size, now.mtime_ns) != (f.size, f.mtime_ns):
            log.error("file.changed_at_move", file=f.name, to=str(target),
                      hint="the file in done/ is not what VOD received (it was rewritten "
                      "while it was being moved); drop it again to send this version")

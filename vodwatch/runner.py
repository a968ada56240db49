"""Drives one job through its states; the only place the steps are ordered.

Every transition is journaled before the remote call it announces, so that a
job found in any state after a crash, a retry wait or a pause carries on from
that state: ``claiming → claimed → ready → requesting → requested → uploading →
confirming → confirmed → finishing → done | failed`` (or ``requeued`` when the
file changed, ``abandoned`` when it vanished).
"""

from __future__ import annotations

import contextlib
import errno
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog

from . import journal as J
from .claim import SHARE_ERRNOS, Claims
from .decide import FailFile, LeaseLost, MoveRefused, Next, Situation, TakenOver, decide
from .errors import (
    AssetStateError,
    FileChanged,
    MetadataChanged,
    RemoteError,
    TransportError,
    VodwatchError,
)
from .explain import (
    MISSING,
    UPDATABLE,
    UPLOADING,
    incomplete_answer_failure,
    remote_failure,
    state_failure,
    state_words,
    unknown_failure,
    uploadable_problem,
)
from .finish import (
    Failure,
    failed_detail,
    remove_error_files_about,
    settle_move,
    unique_target,
    write_error_file,
)
from .group import ReadyFile, pair_upload_urls, update_request
from .journal import FileRow, JobRow, Journal
from .names import Kind, ParsedName, parse_name
from .prehash import Prehasher, identity
from .retry import Action, RetryPolicy, classify
from .share_faults import probe_write, refusing_folder
from .states import FINAL_STATES, JobState
from .upload import (
    ExpiredUrl,
    Interrupted,
    Progress,
    Snapshot,
    Uploader,
    check_unchanged,
    hash_file,
    rehash_matches,
)
from .vod.api import VodClient
from .vod.obs import parse_object_url, url_expires

log = structlog.get_logger("vodwatch.runner")



class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    WAITING = "waiting"  # transient trouble; retry_at is set
    PAUSED = "paused"  # credentials/permission: the folder set is paused
    REQUEUED = "requeued"
    ABANDONED = "abandoned"
    INTERRUPTED = "interrupted"  # shutdown; the journal holds the checkpoint
    UNAVAILABLE = "unavailable"  # the share failed; wait_reason says how, in one sentence


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
    ticket: Callable[[int], dict[str, Any]] | None = None  # the job's ticket for the share
    prehash: Prehasher | None = None  # hashes computed while files settled


def run_job(svc: Services, job_id: int) -> Outcome:
    """Carry a job forward from its journaled state until it ends, waits or pauses.

    The steps raise; ``decide`` (a pure table) says what happens next; this applies it.
    """
    job = svc.journal.job(job_id)
    bound = log.bind(job_id=job_id, asset_id=job.asset_id, folder=svc.folder)
    started = time.monotonic()
    while True:
        job = svc.journal.job(job_id)
        if job.state in FINAL_STATES:
            return Outcome(job.state)
        try:
            _STEPS[job.state](svc, job)
            continue
        except _Restart:
            continue  # the step moved the state back; run the loop again
        except (VodwatchError, OSError) as exc:
            outcome = _after(svc, job, exc, bound)
        finally:
            _keep_ticket(svc, job, started)
        if outcome is not None:
            return outcome


def _after(svc: Services, job: JobRow, exc: BaseException, bound: Any) -> Outcome | None:
    """Apply the verdict on what went wrong; None when the job carries on at once."""
    if not isinstance(exc, (Interrupted, TakenOver)) and job.state != J.CLAIMING and (
            not _ours(svc, job)):
        exc = TakenOver()  # act on nothing: it is a peer's job now
    situation = Situation(exc, JobState(job.state), job.attempts, job.asset_id,
                          share_present=svc.claims.root.is_dir())
    verdict = decide(situation, svc.policy)
    if verdict.next is Next.CHECK_STATE:
        try:
            state = svc.vod.asset_status(job.asset_id)
        except (RemoteError, TransportError) as query_error:
            situation = replace(situation, error=query_error)
        else:
            situation = replace(situation, asset_state=state)
        verdict = decide(situation, svc.policy)
    event, level = _EVENTS[verdict.next]
    getattr(bound, level)(event, state=job.state, reason=verdict.reason, error=str(exc),
                          **({"retry_in": round(verdict.delay, 1), "attempt": job.attempts + 1}
                             if verdict.next is Next.RETRY else {}))
    match verdict.next:
        case Next.STOP:
            return Outcome.INTERRUPTED
        case Next.LEAVE:
            svc.journal.set_job(job.id, state=J.ABANDONED, wait_reason="taken over by a peer")
            return Outcome.ABANDONED
        case Next.DROP:
            _give_up(svc, job, J.ABANDONED, verdict.why)
            return Outcome.ABANDONED
        case Next.REDO:
            _give_up(svc, job, J.REQUEUED, verdict.why)
            return Outcome.REQUEUED
        case Next.FAIL:
            assert verdict.failure is not None
            _to_failed(svc, job, verdict.failure)
            return None
        case Next.ASK_AGAIN:
            for f in svc.journal.files(job.id):
                if f.state != "uploaded":
                    svc.journal.set_file(f.id, upload_id=None, part_size=None)
            svc.journal.set_job(job.id, state=J.REQUESTING, attempts=job.attempts + 1)
            return None
        case Next.PAUSE:
            svc.journal.set_pause(svc.folder, verdict.reason, verdict.why)
            svc.journal.set_job(job.id, retry_at=svc.clock() + svc.credentials_recheck,
                                wait_reason=f"paused: {verdict.reason}")
            return Outcome.PAUSED
        case Next.UNAVAILABLE:
            svc.journal.set_job(job.id, retry_at=svc.clock() + 2.0, wait_reason=verdict.why)
            return Outcome.UNAVAILABLE
        case _:
            if svc.on_retry is not None:
                svc.on_retry(verdict.reason)
            svc.journal.set_job(job.id, attempts=job.attempts + 1,
                                retry_at=svc.clock() + verdict.delay, wait_reason=verdict.why)
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


def _keep_ticket(svc: Services, job: JobRow, started: float) -> None:
    """The job's ticket on the share follows its state; a finished job's goes away."""
    state = svc.journal.job(job.id).state
    if state in FINAL_STATES:
        svc.claims.drop_ticket(job.id)
        _summary(svc, job.id, started)
    elif state != job.state and svc.ticket is not None:
        svc.claims.write_ticket(job.id, svc.ticket(job.id))


# ---- steps ---------------------------------------------------------------------------

def _claiming(svc: Services, job: JobRow) -> None:
    """Settle what the claim achieved: keep the files whose markers are ours."""
    kept = 0
    for f in svc.journal.files(job.id):
        if svc.claims.owns(Path(f.marker)):
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
        path = Path(f.inbox_path)
        if f.error:
            continue
        try:
            _check_uploadable(svc, f, path, job)
            if f.md5:
                try:
                    check_unchanged(path, f)
                    continue
                except FileChanged:
                    pass
            md5, snap = _hash(svc, path)
        except OSError as exc:
            if exc.errno in SHARE_ERRNOS - {errno.EACCES, errno.EPERM}:
                raise  # the share, not the file
            _refuse(svc, job, f, _unreadable(f.name, exc, job.asset_id))
            continue
        svc.journal.set_file(f.id, md5=md5, size=snap.size, mtime_ns=snap.mtime_ns,
                             ctime_ns=snap.ctime_ns, ino=snap.ino)
    files = svc.journal.files(job.id)
    if not [f for f in files if not f.error]:
        raise FailFile(Failure(**json.loads(files[0].error or '{}')))
    video = next((f for f in files if f.kind == Kind.VIDEO and not f.error), None)
    if video is not None:
        status = svc.vod.asset_status(job.asset_id)
        if status in UPLOADING:
            # We hold the asset's lock, so no vodwatch is uploading it: an upload left
            # open by a crashed or dead daemon. Close it so the asset can be updated.
            log.warning("asset.open_upload_cancelled", asset_id=job.asset_id, state=status)
            _cancel_upload(svc, job.asset_id)
        elif status not in UPDATABLE:
            error = AssetStateError(job.asset_id, status, *state_words(job.asset_id, status))
            if len([f for f in files if not f.error]) == 1 or status in MISSING:
                raise error
            # Each file has its own outcome: the video fails, the others go on.
            _refuse(svc, job, video, state_failure(error))
    svc.journal.set_job(job.id, state=J.READY)


def _still_same(svc: Services, f: FileRow) -> None:
    """The file is still what was hashed and sent; FileChanged (or FileVanished) if not.

    Size or mtime moved: changed. Only ctime or the inode moved (a Finder tag, an SMB
    client setting ChangeTime, FUSE or ``noserverino`` inodes): hashed again, and
    accepted only if byte-identical, parts included.
    """
    path = Path(f.inbox_path)
    try:
        check_unchanged(path, f)
    except MetadataChanged:
        snap = rehash_matches(path, f.md5 or "", svc.stop, parts=svc.journal.parts(f.id),
                              part_size=f.part_size or 0)
        if snap is None:
            raise FileChanged(f"{f.name} changed while vodwatch was sending it",
                              "it will be sent again once it stays unchanged") from None
        svc.journal.set_file(f.id, size=snap.size, mtime_ns=snap.mtime_ns,
                             ctime_ns=snap.ctime_ns, ino=snap.ino)
        log.info("file.attributes_changed", file=f.name, verdict="content is the same")


def _hash(svc: Services, path: Path) -> tuple[str, Snapshot]:
    """The file's MD5: the one computed while it settled if the file is still exactly as
    it was read then, else read now."""
    if svc.prehash is not None:
        done = svc.prehash.take(path, identity(Snapshot.of(path)))
        if done is not None:
            log.info("file.hashed_while_settling", file=path.name)
            return done
    return hash_file(path, svc.stop)


def _unreadable(name: str, exc: OSError, asset_id: str) -> Failure:
    return Failure(f"{name} cannot be read ({exc.strerror or exc}).",
                   "make the file readable (its permissions or owner), then drop it again",
                   asset_id=asset_id)


def _refuse(svc: Services, job: JobRow, f: FileRow, failure: Failure) -> None:
    """This file fails on its own; the other files of the job carry on."""
    svc.journal.set_file(f.id, state="refused", error=json.dumps(failure.__dict__))
    log.warning("file.refused", file=f.name, asset_id=job.asset_id, reason=failure.sentence)


def _check_uploadable(svc: Services, f: FileRow, path: Path, job: JobRow) -> None:
    failure = uploadable_problem(f.name, path, svc.language_map, job.asset_id)
    if failure is not None:
        raise FailFile(failure)


def _ready(svc: Services, job: JobRow) -> None:
    svc.journal.set_job(job.id, state=J.REQUESTING)
    _send_update(svc, job)


def _requesting(svc: Services, job: JobRow) -> None:
    """UpdateAsset may have taken effect before we lost its answer: check, then ask again."""
    pending = [f for f in svc.journal.files(job.id) if f.state not in ("uploaded", "refused")]
    if not pending:
        svc.journal.set_job(job.id, state=J.UPLOADING)
        return
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
        ready.append(ReadyFile(_parsed(svc, f), Path(f.inbox_path), f.size, f.md5))
    body = update_request(job.asset_id, ready)
    try:
        answer = svc.vod.update_asset(body)
    except RemoteError as exc:
        if exc.code == "VOD.10061":
            state_error = _asset_state(svc, job, exc)
            video = next((f for f in files if f.kind == Kind.VIDEO), None)
            if video is None or len(files) == 1 or state_error.state in MISSING:
                raise state_error from None
            # VOD refused the video for the asset's state: send the others without it.
            _refuse(svc, job, video, state_failure(state_error))
            raise _Restart() from None
        raise
    svc.journal.store_urls(job.id, _urls_for(files, ready, answer, job))
    for f in files:
        svc.journal.set_file(f.id, request_id=str(answer.get("request_id") or "") or None)


def _urls_for(files: list[FileRow], ready: list[ReadyFile], answer: dict[str, Any],
              job: JobRow) -> list[tuple[int, str, float | None, str | None, str | None]]:
    """Each file's upload URL from UpdateAsset's answer, with its expiry, bucket and key."""
    try:
        by_name = {rf.parsed.name: url for rf, url in pair_upload_urls(answer, ready)}
    except ValueError as exc:
        raise FailFile(incomplete_answer_failure(job.asset_id, str(exc))) from None
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
        path = Path(f.inbox_path)
        _still_same(svc, f)
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
        if f.state != "refused":
            _still_same(svc, f)
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
    """Confirm the video upload; a confirm whose answer was lost is checked, not repeated.

    Only with a fresh lease, and only for files that are still what was sent.
    """
    _fence(svc, job)
    if not fresh:
        for f in svc.journal.files(job.id):
            if f.state != "refused":
                _still_same(svc, f)
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
            # No error file may say it failed once it is delivered: its own, and those of
            # names it had in failed/ before it was moved back by hand.
            with contextlib.suppress(OSError):  # failed/ unreadable: not this file's fault
                remove_error_files_about(svc.failed_dir, f.name, svc.language_map)
        svc.journal.set_file(f.id, state="failed" if failed else "done")
        # A failure keeps the name it got in failed/, so the page can point at its error file.
        svc.journal.event(svc.folder, "failed" if failed else "done", job_id=job.id,
                          asset_id=job.asset_id, file=f.name,
                          detail=str(target.name) if not failed else failed_detail(json.loads(
                              f.error or job.outcome_reason or "{}").get("sentence", ""),
                              target.name))
        log.info("file.failed" if failed else "file.done", file=f.name,
                 asset_id=job.asset_id, to=str(target))
    for f in svc.journal.files(job.id):
        svc.claims.release(Path(f.marker))
    svc.journal.set_job(job.id, state=J.FAILED if job.outcome == "failed" else J.DONE)
    svc.claims.unlock_asset(job.asset_id)
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
    """Close any open upload and let the files in the inbox wait for a new job."""
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
    svc.journal.set_job(job.id, state=state, wait_reason=why)
    for f in files:
        svc.claims.release(Path(f.marker))
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

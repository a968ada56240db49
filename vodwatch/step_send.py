"""Steps 5-7 of a job: UpdateAsset asked (again after a lost answer), the upload URLs
journaled, every file sent (single PUT or multipart), a stale URL replaced.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog

from .decide import FailFile, FileNext, decide_file
from .errors import (
    AssetStateError,
    RemoteError,
)
from .explain import (
    MISSING,
    UPLOADING,
    incomplete_answer_failure,
    state_words,
)
from .group import ReadyFile, pair_upload_urls, update_request
from .journal import FileRow, JobRow
from .names import Kind, ParsedName
from .services import (
    Services,
    asset_state_error,
    cancel_upload,
    parsed_name,
    refuse,
    still_same,
    to_send,
)
from .states import FileState, JobState
from .step_finish import _confirm
from .upload import (
    ExpiredUrl,
    Progress,
)
from .vod.obs import parse_object_url, url_expires

log = structlog.get_logger("vodwatch.runner")


def _requesting(services: Services, job: JobRow) -> None:
    """UpdateAsset may have taken effect before we lost its answer: check, then ask again."""
    pending = to_send(services, job.id)
    if not pending:
        services.journal.set_job(job.id, state=JobState.UPLOADING)
        return
    if any(f.kind == Kind.VIDEO for f in pending):
        status = services.vod.asset_status(job.asset_id)
        if status in UPLOADING:
            log.info("job.update_took_effect", job_id=job.id, asset_id=job.asset_id,
                     action="cancel the open upload and ask again")
            cancel_upload(services, job.asset_id)
        elif status in MISSING:
            raise AssetStateError(job.asset_id, status, *state_words(job.asset_id, status))
    _send_update(services, job)


def _send_update(services: Services, job: JobRow) -> None:
    files = to_send(services, job.id)
    ready = []
    for f in files:
        assert f.md5 is not None and f.size is not None
        # A create-mode name carries a title: the asset is the one the title became.
        parsed = replace(parsed_name(services, f), asset_id=job.asset_id)
        ready.append(ReadyFile(parsed, Path(f.inbox_path), f.size, f.md5))
    body = update_request(job.asset_id, ready)
    try:
        answer = services.vod.update_asset(body)
    except RemoteError as exc:
        video = next((f for f in files if f.kind == Kind.VIDEO), None)
        if exc.code != "VOD.10061" or video is None:
            raise
        state_error = asset_state_error(services, job, exc)
        verdict = decide_file(exc, Kind.VIDEO, len(files) - 1, job.asset_id, state_error.state)
        if verdict.next is not FileNext.REFUSE:
            raise state_error from None
        assert verdict.failure is not None
        refuse(services, job, video, verdict.failure)
        raise _Restart() from None
    services.journal.store_urls(job.id, _urls_for(files, ready, answer, job))
    for f in files:
        services.journal.set_file(f.id, request_id=str(answer.get("request_id") or "") or None)


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


def _requested(services: Services, job: JobRow) -> None:
    services.journal.set_job(job.id, state=JobState.UPLOADING)


def _uploading(services: Services, job: JobRow) -> None:
    """Send every file not yet sent; then check none changed meanwhile."""
    files = services.journal.files(job.id)
    for f in files:
        if f.state in (FileState.UPLOADED, FileState.REFUSED):
            continue
        path = Path(f.inbox_path)
        still_same(services, f)
        parsed = parsed_name(services, f)
        assert f.size is not None
        progress = Progress(f.name, job.asset_id, f.size)
        services.progress[f.id] = progress
        if f.upload_started_at is None:
            services.journal.set_file(f.id, upload_started_at=services.clock())
        try:
            if f.kind == Kind.VIDEO and (f.size > services.multipart_threshold or f.upload_id):
                services.uploader.put_multipart(services.journal.file(f.id), path,
                                                parsed.content_type,
                                           progress)
            else:
                try:
                    services.uploader.put_single(f, path, parsed.content_type, progress)
                except (ExpiredUrl, RemoteError) as exc:
                    others = sum(1 for other in files if other.id != f.id
                                 and other.state != FileState.REFUSED)
                    verdict = decide_file(exc, Kind(f.kind), others, job.asset_id)
                    if verdict.next is FileNext.REFUSE:
                        assert verdict.failure is not None
                        services.journal.set_file(f.id, state=FileState.REFUSED,
                                                  error=json.dumps(verdict.failure.__dict__))
                        log.warning("upload.file_refused", file=f.name, error=str(exc))
                        continue
                    if verdict.next is FileNext.JOB:
                        raise
                    _reauthorize(services, job, f, path, parsed, progress)
        finally:
            services.progress.pop(f.id, None)
        services.journal.set_file(f.id, state=FileState.UPLOADED, bytes_sent=f.size,
                             progress_at=services.clock())
        log.info("upload.file_sent", file=f.name, asset_id=job.asset_id, bytes=f.size)
    for f in services.journal.files(job.id):
        if f.state != FileState.REFUSED:
            still_same(services, f)
    video_sent = any(f.kind == Kind.VIDEO and f.state != FileState.REFUSED for f in files)
    services.journal.set_job(job.id, state=JobState.CONFIRMING
                             if video_sent else JobState.CONFIRMED)
    if video_sent:
        # The ticket says "confirming" before VOD hears the confirm: a peer taking over
        # after we die then asks VOD whether it took effect, instead of resuming an upload
        # VOD has closed.
        if services.ticket is not None:
            services.claims.write_ticket(job.id, services.ticket(job.id))
        _confirm(services, services.journal.job(job.id), fresh=True)


def _reauthorize(services: Services, job: JobRow, f: FileRow, path: Path, parsed: ParsedName,
                 progress: Progress) -> None:
    """A signed URL expired: a video goes through the authority API; others ask again."""
    if f.kind == Kind.VIDEO and f.bucket and f.object_key:
        log.info("upload.url_expired", file=f.name, action="multipart via authority")
        services.uploader.put_multipart(services.journal.file(f.id), path, parsed.content_type,
                                   progress)
        return
    log.info("upload.url_expired", file=f.name, action="ask VOD for a new URL")
    services.journal.set_job(job.id, state=JobState.REQUESTING, attempts=job.attempts + 1)
    raise _Restart()


class _Restart(Exception):
    """Internal: the job's state was moved back; run the loop again."""


def _ready(services: Services, job: JobRow) -> None:
    services.journal.set_job(job.id, state=JobState.REQUESTING)
    _send_update(services, job)

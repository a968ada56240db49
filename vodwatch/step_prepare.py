"""Steps 2-4 of a job: the claim settled, each file checked and hashed, the asset's state
checked, files that fail on their own set aside.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import structlog

from .claim import SHARE_ERRNOS
from .decide import FailFile
from .errors import (
    AssetStateError,
    FileChanged,
    FileVanished,
)
from .explain import (
    MISSING,
    UPDATABLE,
    UPLOADING,
    state_failure,
    state_words,
    uploadable_problem,
)
from .finish import (
    Failure,
)
from .journal import FileRow, JobRow
from .names import Kind
from .parts_ahead import SettledParts
from .prehash import identity
from .services import Services, cancel_upload, refuse
from .states import JobState
from .step_create import prepare_title
from .upload import (
    Snapshot,
    check_unchanged,
    hash_file,
)

log = structlog.get_logger("vodwatch.runner")


def _claiming(services: Services, job: JobRow) -> None:
    """Settle what the claim achieved: keep the files whose markers are ours."""
    kept = 0
    for f in services.journal.files(job.id):
        if services.claims.owns(Path(f.marker)):
            kept += 1
        else:
            services.journal.drop_file(f.id)
    services.journal.set_job(job.id, state=JobState.CLAIMED if kept else JobState.ABANDONED)


def _claimed(services: Services, job: JobRow) -> None:
    """Check each file is uploadable, hash it, and make sure the asset can take the update."""
    if job.outcome == JobState.FAILED:  # decided before the claim (e.g. still being written)
        services.journal.set_job(job.id, state=JobState.FINISHING)
        return
    files = services.journal.files(job.id)
    for f in files:
        path = Path(f.inbox_path)
        if f.error:
            continue
        try:
            if not os.path.lexists(path):
                # Gone: the editor took it back, or the whole share went away (decide
                # tells which). Never "not a regular file" about a file that is not there.
                raise FileVanished(f"{f.name} disappeared before vodwatch could read it",
                                   "drop it again if it should be uploaded")
            _check_uploadable(services, f, path, job)
            if f.md5:
                try:
                    check_unchanged(path, f)
                    continue
                except FileChanged:
                    pass
            md5, snap = _hash(services, path, f.id)
        except OSError as exc:
            if exc.errno in SHARE_ERRNOS - {errno.EACCES, errno.EPERM}:
                raise  # the share, not the file
            refuse(services, job, f, _unreadable(f.name, exc, job.asset_id))
            continue
        services.journal.set_file(f.id, md5=md5, size=snap.size, mtime_ns=snap.mtime_ns,
                             ctime_ns=snap.ctime_ns, ino=snap.ino)
    files = services.journal.files(job.id)
    if not [f for f in files if not f.error]:
        raise FailFile(Failure(**json.loads(files[0].error or '{}')))
    if job.title:
        prepare_title(services, job, files)  # create mode: metadata read, the title's asset checked
        files = services.journal.files(job.id)
        if not job.asset_id:
            services.journal.set_job(job.id,
                                     state=JobState.READY)  # a new asset: nothing to check in VOD
            return
    video = next((f for f in files if f.kind == Kind.VIDEO and not f.error), None)
    if video is not None:
        status = services.vod.asset_status(job.asset_id)
        if status in UPLOADING:
            # We hold the asset's lock, so no vodwatch is uploading it: an upload left
            # open by a crashed or dead daemon. Close it so the asset can be updated.
            log.warning("asset.open_upload_cancelled", asset_id=job.asset_id, state=status)
            cancel_upload(services, job.asset_id)
        elif status not in UPDATABLE:
            error = AssetStateError(job.asset_id, status, *state_words(job.asset_id, status))
            if len([f for f in files if not f.error]) == 1 or status in MISSING:
                raise error
            # Each file has its own outcome: the video fails, the others go on.
            refuse(services, job, video, state_failure(error))
    services.journal.set_job(job.id, state=JobState.READY)


def _hash(services: Services, path: Path, file_id: int) -> tuple[str, Snapshot]:
    """The file's MD5: the one computed while it settled if the file is still exactly as
    it was read then, else read now. Part MD5s read with it go to the upload, which
    uses them only while the journaled snapshot is still the one they were read under."""
    if services.prehash is not None:
        done = services.prehash.take(path, identity(Snapshot.of(path)))
        if done is not None:
            log.info("file.hashed_while_settling", file=path.name,
                     part_size=done.part_size or None)
            if done.part_size:
                services.uploader.settled.put(file_id, SettledParts(
                    identity(done.snapshot), done.part_size, done.parts))
            return done.md5, done.snapshot
    return hash_file(path, services.stop)


def _unreadable(name: str, exc: OSError, asset_id: str) -> Failure:
    return Failure(f"{name} cannot be read ({exc.strerror or exc}).",
                   "make the file readable (its permissions or owner), then drop it again",
                   asset_id=asset_id)


def _check_uploadable(services: Services, f: FileRow, path: Path, job: JobRow) -> None:
    failure = uploadable_problem(f.name, path, services.language_map, job.asset_id,
                                 create=services.create_assets)
    if failure is not None:
        raise FailFile(failure)



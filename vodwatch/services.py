"""What one job needs from its folder set, and how a job's turn can end.

Shared by the runner and its steps (vodwatch.step_prepare, step_send, step_finish).
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

from .claim import Claims
from .errors import AssetStateError, RemoteError
from .explain import state_words
from .finish import Failure
from .identity import check_same_bytes
from .journal import FileRow, JobRow, Journal
from .names import Kind, ParsedName, parse_name
from .prehash import Prehasher
from .retry import RetryPolicy
from .states import FileState, JobState
from .titles import job_lock
from .upload import (
    Progress,
    Uploader,
)
from .vod.api import VodClient

log = structlog.get_logger("vodwatch.runner")


class Outcome(StrEnum):
    """How a job's turn ended short of a final state; a final one is its JobState.

    ``run_job`` returns ``JobState | Outcome``.
    """

    WAITING = "waiting"  # transient trouble; retry_at is set
    PAUSED = "paused"  # credentials/permission: the folder set is paused
    INTERRUPTED = "interrupted"  # shutdown; the journal holds the checkpoint
    UNAVAILABLE = "unavailable"  # the share failed; wait_reason says how, in one sentence


# What a job's turn ends with: one of its final states, or why it stopped short.
TurnEnd = JobState | Outcome


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
    create_assets: bool = False  # names without an asset ID create assets (vodwatch.titles)
    asset_defaults: dict[str, Any] = field(default_factory=dict)  # new assets' metadata


def cancel_upload(services: Services, asset_id: str) -> None:
    """Confirm CANCELLED so the asset can be updated again; fine if it is not open."""
    try:
        services.vod.confirm(asset_id, "CANCELLED")
    except RemoteError as exc:
        if exc.code != "VOD.10126":
            raise


def asset_state_error(services: Services, job: JobRow, exc: RemoteError) -> AssetStateError:
    status = services.vod.asset_status(job.asset_id)
    return AssetStateError(job.asset_id, status, *state_words(job.asset_id, status),
                           fault=exc.fault)


def parsed_name(services: Services, f: FileRow) -> ParsedName:
    """The file's name as understood when it was claimed (kept in the journal), so a
    name is parsed once per job; older journals without it parse the name again."""
    if f.slot:
        fields = json.loads(f.slot)
        return ParsedName(**{**fields, "kind": Kind(fields["kind"])})
    return parse_name(f.name, services.language_map, create=services.create_assets)


def unlock(services: Services, job: JobRow) -> None:
    """Release the share-wide lock the job holds: its title's (create mode) or its asset's."""
    services.claims.unlock_asset(job_lock(job.asset_id, job.title))


def still_same(services: Services, f: FileRow) -> None:
    """The file is still what was hashed and sent; FileChanged (or FileVanished) if not.

    Size or mtime moved: changed. Only ctime or the inode moved (a Finder tag, an SMB
    client setting ChangeTime, FUSE or ``noserverino`` inodes): hashed again, and
    accepted only if byte-identical, parts included.
    """
    snap = check_same_bytes(Path(f.inbox_path), f, services.stop,
                            parts=services.journal.parts(f.id))
    if snap is not None:
        services.journal.set_file(f.id, size=snap.size, mtime_ns=snap.mtime_ns,
                                  ctime_ns=snap.ctime_ns, ino=snap.ino)


def to_send(services: Services, job_id: int) -> list[FileRow]:
    """The job's files still to be sent: neither in the store yet nor refused."""
    return [f for f in services.journal.files(job_id)
            if f.state not in (FileState.UPLOADED, FileState.REFUSED)]


def refuse(services: Services, job: JobRow, f: FileRow, failure: Failure) -> None:
    """This file fails on its own; the other files of the job carry on."""
    services.journal.set_file(f.id, state=FileState.REFUSED, error=json.dumps(failure.__dict__))
    log.warning("file.refused", file=f.name, asset_id=job.asset_id, reason=failure.sentence)

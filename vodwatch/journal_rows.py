"""What the journal hands out and takes in: rows as frozen dataclasses."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class FileRow:
    """One file of a job as the journal remembers it."""

    id: int
    job_id: int
    name: str
    kind: str
    inbox_path: str
    marker: str  # the claim marker in the share's hidden folder
    size: int | None
    mtime_ns: int | None
    ctime_ns: int | None
    ino: int | None
    md5: str | None
    upload_url: str | None
    url_expires: float | None
    bucket: str | None
    object_key: str | None
    upload_id: str | None
    part_size: int | None
    bytes_sent: int
    upload_started_at: float | None
    progress_at: float | None
    state: str
    final_path: str | None
    error: str | None
    request_id: str | None = None  # VOD's id of the UpdateAsset that took the file
    slot: str | None = None  # the name as understood at the claim (JSON): parsed once per job


@dataclass(frozen=True)
class JobRow:
    """One job: the files of one asset handled together."""

    id: int
    folder: str
    asset_id: str
    state: str
    has_video: bool
    attempts: int
    retry_at: float | None
    wait_reason: str | None
    error_code: str | None
    error_msg: str | None
    outcome_reason: str | None
    outcome: str | None
    created_at: float
    updated_at: float
    finished_at: float | None
    title: str | None = None  # create mode: the title its files carry (full, as named)
    create_token: str | None = None  # the intent token in the new asset's tags
    create_requested_at: float | None = None  # when CreateAsset was first asked (epoch)
    create_meta: str | None = None  # JSON: the checked metadata for CreateAsset


_CREATE_COLS = ("title", "create_token", "create_requested_at", "create_meta")


@dataclass(frozen=True)
class PartRow:
    """A multipart part that the store acknowledged."""

    part_number: int
    size: int
    md5: str
    etag: str


@dataclass(frozen=True)
class NewFile:
    """A file about to be claimed into a new job."""

    name: str
    kind: str
    inbox_path: str
    marker: str
    slot: str | None = None


_FILE_COLS = ", ".join(FileRow.__dataclass_fields__)
_FILE_UPDATABLE = frozenset(FileRow.__dataclass_fields__) - {"id", "job_id", "name", "kind"}
_JOB_UPDATABLE = frozenset(JobRow.__dataclass_fields__) - {"id", "folder", "asset_id",
                                                           "created_at"}


def job_row(r: sqlite3.Row) -> JobRow:
    d = dict(r)
    d["has_video"] = bool(d["has_video"])
    return JobRow(**d)


def file_row(r: sqlite3.Row) -> FileRow:
    return FileRow(**dict(r))

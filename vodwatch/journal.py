"""The journal: what vodwatch has done and promised, in SQLite. The only module with SQL.

WAL mode, a busy timeout, and one short transaction per step: every write that
records intent happens before the remote call it announces, and every result
right after. States are plain strings shared by the journal, the logs and
``vodwatch status --json``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .journal_events import EventsMixin
from .journal_rows import (
    _CREATE_COLS,
    _FILE_UPDATABLE,
    _JOB_UPDATABLE,
    FileRow,
    JobRow,
    NewFile,
    PartRow,
    file_row,
    job_row,
)
from .journal_schema import _SCHEMA
from .states import FINAL_STATES, FileState, JobState, check_file_move, check_job_move

__all__ = ["ABANDONED", "CLAIMED", "CLAIMING", "CONFIRMED", "CONFIRMING", "CREATING", "DONE",
           "FAILED", "FINAL_STATES", "FINISHING", "READY", "REQUESTED", "REQUESTING",
           "REQUEUED", "UPLOADING", "FileRow", "JobRow", "Journal", "NewFile", "PartRow"]

SCHEMA_VERSION = 2
PRIVATE_MODE = 0o600  # the journal names every file and asset: its owner's only
WAL_SUFFIX, SHM_SUFFIX = "-wal", "-shm"

# Job states (the table of allowed moves lives in vodwatch.states).
CLAIMING, CLAIMED, READY = JobState.CLAIMING, JobState.CLAIMED, JobState.READY
REQUESTING, REQUESTED = JobState.REQUESTING, JobState.REQUESTED
CREATING = JobState.CREATING
UPLOADING, CONFIRMING = JobState.UPLOADING, JobState.CONFIRMING
CONFIRMED, FINISHING = JobState.CONFIRMED, JobState.FINISHING
DONE, FAILED = JobState.DONE, JobState.FAILED
REQUEUED, ABANDONED = JobState.REQUEUED, JobState.ABANDONED



class Journal(EventsMixin):
    """Thread-safe access to the journal database in ``state_dir``."""

    def __init__(self, path: Path, *, readonly: bool = False, clock: Any = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._legacy_cols: str | None = None
        self._legacy_job_cols: str | None = None
        if readonly:
            uri = f"file:{path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, timeout=10, check_same_thread=False,
                                       isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            created = _create_private(path)
            self._db = sqlite3.connect(path, timeout=30, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.row_factory = sqlite3.Row
        if not readonly:
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))
            self._migrate()
            if created:
                # SQLite gives -wal and -shm the journal's mode; made sure of, whatever umask.
                for companion in (WAL_SUFFIX, SHM_SUFFIX):
                    _make_private(Path(str(path) + companion))

    def _migrate(self) -> None:
        """Bring a 0.1 journal (schema 1) up to date; its jobs carry on.

        0.1 kept a claimed file in a claim folder (``files.claim_path``); the column is
        now the claim marker. ``meta.legacy_claims`` tells the upgrade step at start-up
        (vodwatch.upgrade) to return those files to the inbox before the jobs resume.
        """
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(files)")}
        if "claim_path" in columns:
            with self._tx() as db:
                db.execute("ALTER TABLE files RENAME COLUMN claim_path TO marker")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('legacy_claims', '1')")
        for column in ("request_id", "slot"):
            if column not in columns:
                with self._tx() as db:
                    db.execute(f"ALTER TABLE files ADD COLUMN {column} TEXT")
        job_columns = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
        for col, kind in zip(_CREATE_COLS, ("TEXT", "TEXT", "REAL", "TEXT"), strict=True):
            if col not in job_columns:
                with self._tx() as db:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {col} {kind}")
        with self._tx() as db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                       (str(SCHEMA_VERSION),))

    @property
    def _file_cols(self) -> str:
        """The file columns to select; a 0.1 journal read without migrating (``status``
        beside a 0.1 daemon still running) names the marker ``claim_path`` and has no
        request id."""
        if self._legacy_cols is None:
            have = {r[1] for r in self._query("PRAGMA table_info(files)")}
            cols = [c if c in have else f"NULL AS {c}" for c in FileRow.__dataclass_fields__]
            if "marker" not in have and "claim_path" in have:
                cols[cols.index("NULL AS marker")] = "claim_path AS marker"
            self._legacy_cols = ", ".join(cols)
        return self._legacy_cols

    @property
    def _job_cols(self) -> str:
        """The job columns to select; an older journal read without migrating has no
        create-mode columns."""
        if self._legacy_job_cols is None:
            have = {r[1] for r in self._query("PRAGMA table_info(jobs)")}
            self._legacy_job_cols = ", ".join(
                c if c in have else f"NULL AS {c}" for c in JobRow.__dataclass_fields__)
        return self._legacy_job_cols

    @classmethod
    def open(cls, state_dir: Path, **kwargs: Any) -> Journal:
        """Open (creating if needed) ``state_dir/journal.sqlite3``."""
        return cls(state_dir / "journal.sqlite3", **kwargs)

    def quick_check(self) -> list[str]:
        """SQLite's ``PRAGMA quick_check``: the problems found, or [] for a healthy journal."""
        rows = self._query("PRAGMA quick_check")
        found = [str(r[0]) for r in rows]
        return [] if found == ["ok"] else found

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    # ---- jobs ----------------------------------------------------------------------

    def create_job(self, folder: str, asset_id: str, has_video: bool,
                   files: Sequence[NewFile]) -> tuple[int, list[int]]:
        """Record a new job in state ``claiming`` with its files; return (job id, file ids)."""
        now = self._clock()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO jobs (folder, asset_id, state, has_video, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)", (folder, asset_id, CLAIMING, int(has_video), now,
                                              now))
            job_id = int(cur.lastrowid or 0)
            ids = []
            for f in files:
                cur = db.execute(
                    "INSERT INTO files (job_id, name, kind, inbox_path, marker, slot)"
                    " VALUES (?, ?, ?, ?, ?, ?)", (job_id, f.name, f.kind, f.inbox_path,
                                                   f.marker, f.slot))
                ids.append(int(cur.lastrowid or 0))
        return job_id, ids

    def job(self, job_id: int) -> JobRow:
        """The job with this id; KeyError if none."""
        rows = self._query(f"SELECT {self._job_cols} FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise KeyError(job_id)
        return job_row(rows[0])

    def files(self, job_id: int) -> list[FileRow]:
        """The files of a job, in the order they were added."""
        rows = self._query(f"SELECT {self._file_cols} FROM files WHERE job_id = ? ORDER BY id",
                           (job_id,))
        return [file_row(r) for r in rows]

    def file(self, file_id: int) -> FileRow:
        """One file row; KeyError if none."""
        rows = self._query(f"SELECT {self._file_cols} FROM files WHERE id = ?", (file_id,))
        if not rows:
            raise KeyError(file_id)
        return file_row(rows[0])

    def unfinished_jobs(self) -> list[JobRow]:
        """Jobs not in a final state, oldest first: what a restart must carry on."""
        marks = ",".join("?" * len(FINAL_STATES))
        rows = self._query(f"SELECT {self._job_cols} FROM jobs WHERE state NOT IN ({marks})"
                           " ORDER BY id", tuple(FINAL_STATES))
        return [job_row(r) for r in rows]

    def set_job(self, job_id: int, **fields: Any) -> None:
        """Update a job's columns in one transaction (``updated_at`` is set too)."""
        bad = set(fields) - _JOB_UPDATABLE
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        fields["updated_at"] = self._clock()
        if fields.get("state") in FINAL_STATES:
            fields.setdefault("finished_at", fields["updated_at"])
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            if "state" in fields:
                row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is not None:
                    check_job_move(row[0], fields["state"])
            db.execute(f"UPDATE jobs SET {cols} WHERE id = ?", (*fields.values(), job_id))

    def set_file(self, file_id: int, **fields: Any) -> None:
        """Update a file's columns in one transaction."""
        bad = set(fields) - _FILE_UPDATABLE
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            if "state" in fields:
                row = db.execute("SELECT state FROM files WHERE id = ?", (file_id,)).fetchone()
                if row is not None:
                    check_file_move(row[0], fields["state"])
            db.execute(f"UPDATE files SET {cols} WHERE id = ?", (*fields.values(), file_id))

    def drop_file(self, file_id: int) -> None:
        """Forget a file that never became ours (another daemon holds its marker)."""
        with self._tx() as db:
            db.execute("DELETE FROM parts WHERE file_id = ?", (file_id,))
            db.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def store_urls(self, job_id: int, urls: Sequence[tuple[int, str, float | None,
                                                           str | None, str | None]],
                   asset_id: str | None = None) -> None:
        """Journal UpdateAsset's answer, per file (id, url, expires, bucket, key); REQUESTED.

        ``asset_id``: CreateAsset's answer, journaled with its URLs in one transaction.
        """
        now = self._clock()
        with self._tx() as db:
            if asset_id:
                db.execute("UPDATE jobs SET asset_id = ? WHERE id = ?", (asset_id, job_id))
            for file_id, url, expires, bucket, key in urls:
                state = db.execute("SELECT state FROM files WHERE id = ?", (file_id,)).fetchone()
                if state is not None:
                    check_file_move(state[0], FileState.PENDING)
                db.execute("UPDATE files SET upload_url = ?, url_expires = ?, bucket = ?,"
                           " object_key = ?, upload_id = NULL, bytes_sent = 0, state = ?"
                           " WHERE id = ?", (url, expires, bucket, key, FileState.PENDING,
                                             file_id))
                db.execute("DELETE FROM parts WHERE file_id = ?", (file_id,))
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is not None:
                check_job_move(row[0], REQUESTED)
            db.execute("UPDATE jobs SET state = ?, updated_at = ? WHERE id = ?",
                       (REQUESTED, now, job_id))

    def set_asset(self, job_id: int, asset_id: str) -> None:
        """The asset a create-mode job made (found again by its token): from now on an
        update of that asset."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET asset_id = ?, updated_at = ? WHERE id = ?",
                       (asset_id, self._clock(), job_id))

    def export_job(self, job_id: int) -> dict[str, Any]:
        """The job and its files as plain data, for the job's ticket on the share."""
        job = self.job(job_id)
        return {"job": job.__dict__, "files": [f.__dict__ for f in self.files(job_id)]}

    def import_job(self, folder: str, ticket: dict[str, Any], inbox: Path
                   ) -> tuple[int, list[FileRow]]:
        """Adopt a dead daemon's job from its ticket; returns (job id, its files).

        Paths are rebased onto ``inbox`` (the peer may mount the share elsewhere).
        The parts are not copied: on resume the store's own list of parts is checked
        against the file. Signed URLs are not on the share: the job asks again.
        """
        src_job = ticket["job"]
        peer_inbox = Path(str(ticket.get("inbox") or ""))
        now = self._clock()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO jobs (folder, asset_id, state, has_video, attempts, outcome,"
                " outcome_reason, created_at, updated_at, title, create_token,"
                " create_requested_at, create_meta)"
                " VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
                (folder, src_job["asset_id"], src_job["state"], int(src_job["has_video"]),
                 src_job.get("outcome"), src_job.get("outcome_reason"), now, now,
                 *(src_job.get(c) for c in _CREATE_COLS)))
            job_id = int(cur.lastrowid or 0)
            for f in ticket["files"]:
                cols = {k: v for k, v in f.items()
                        if k in _FILE_UPDATABLE | {"name", "kind"} and k != "upload_url"}
                old = Path(str(f["inbox_path"]))
                try:
                    relative = old.relative_to(peer_inbox) if ticket.get("inbox") else Path(
                        f["name"])
                except ValueError:
                    relative = Path(f["name"])
                cols["inbox_path"] = str(inbox / relative)
                cols["marker"] = str(inbox / ".vodwatch" / "files" / Path(str(f["marker"])).name)
                names = ", ".join(["job_id", *cols])
                marks = ", ".join("?" * (len(cols) + 1))
                db.execute(f"INSERT INTO files ({names}) VALUES ({marks})",
                           (job_id, *cols.values()))
        return job_id, self.files(job_id)

    # ---- parts -----------------------------------------------------------------------

    def parts(self, file_id: int) -> list[PartRow]:
        """Parts the store acknowledged for this file, by part number."""
        rows = self._query("SELECT part_number, size, md5, etag FROM parts WHERE file_id = ?"
                           " ORDER BY part_number", (file_id,))
        return [PartRow(r[0], r[1], r[2], r[3]) for r in rows]

    def add_part(self, file_id: int, part: PartRow) -> None:
        """Record one acknowledged part the moment the store accepted it."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?, ?)",
                       (file_id, part.part_number, part.size, part.md5, part.etag))

    def replace_parts(self, file_id: int, parts: Sequence[PartRow]) -> None:
        """Make the journal agree with the store's list of parts (the store wins)."""
        with self._tx() as db:
            db.execute("DELETE FROM parts WHERE file_id = ?", (file_id,))
            db.executemany("INSERT INTO parts VALUES (?, ?, ?, ?, ?)",
                           [(file_id, p.part_number, p.size, p.md5, p.etag) for p in parts])

    def jobs_in(self, states: Sequence[str], limit: int = 100) -> list[JobRow]:
        """Jobs in any of these states, oldest first."""
        marks = ",".join("?" * len(states))
        rows = self._query(f"SELECT {self._job_cols} FROM jobs WHERE state IN ({marks})"
                           " ORDER BY id LIMIT ?", (*states, limit))
        return [job_row(r) for r in rows]

    def prune(self, older_than: float) -> None:
        """Forget finished jobs and old events; keeps the journal small over months."""
        marks = ",".join("?" * len(FINAL_STATES))
        with self._tx() as db:
            old = f"SELECT id FROM jobs WHERE state IN ({marks}) AND finished_at < ?"
            args = (*FINAL_STATES, older_than)
            db.execute(f"DELETE FROM parts WHERE file_id IN (SELECT id FROM files WHERE job_id"
                       f" IN ({old}))", args)
            db.execute(f"DELETE FROM files WHERE job_id IN ({old})", args)
            db.execute(f"DELETE FROM jobs WHERE id IN ({old})", args)
            db.execute("DELETE FROM events WHERE at < ?", (older_than,))


def _create_private(path: Path) -> bool:
    """Create an empty journal file readable by its owner only (0600); True if it is new.

    An empty file is an empty SQLite database; creating it first, rather than letting
    SQLite do it, keeps the umask from deciding who may read the journal.
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_MODE)
    finally:
        os.close(fd)
    return True


def _make_private(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, PRIVATE_MODE)

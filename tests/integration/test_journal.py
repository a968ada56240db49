"""The journal against a real SQLite file in tmp_path: schema, round trips, tickets, readers."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clock import FakeClock
from tests.walk import walk
from vodwatch.claim import marker_name
from vodwatch.journal import SCHEMA_VERSION, FileRow, Journal, NewFile, PartRow
from vodwatch.states import (
    FILE_MOVES,
    FINAL_STATES,
    JOB_MOVES,
    FileState,
    IllegalMove,
    JobState,
)

A1 = "a1" * 16
A2 = "b2" * 16
SIGNED = "https://obs.example.com/k.mp4?AccessKeyId=AK&Expires=9&Signature=c2Vj"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "state", clock=clock)
    yield j
    j.close()


# The schema of vodwatch 0.1 (journal schema 1), as it shipped: a claimed file lived in a
# claim folder, ``files.claim_path``.
V01_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    folder TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    state TEXT NOT NULL,
    has_video INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_at REAL,
    wait_reason TEXT,
    error_code TEXT,
    error_msg TEXT,
    outcome_reason TEXT,
    outcome TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    inbox_path TEXT NOT NULL,
    claim_path TEXT NOT NULL,
    size INTEGER,
    mtime_ns INTEGER,
    ctime_ns INTEGER,
    ino INTEGER,
    md5 TEXT,
    upload_url TEXT,
    url_expires REAL,
    bucket TEXT,
    object_key TEXT,
    upload_id TEXT,
    part_size INTEGER,
    bytes_sent INTEGER NOT NULL DEFAULT 0,
    upload_started_at REAL,
    progress_at REAL,
    state TEXT NOT NULL DEFAULT 'pending',
    final_path TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS files_job ON files(job_id);
CREATE TABLE IF NOT EXISTS parts (
    file_id INTEGER NOT NULL REFERENCES files(id),
    part_number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (file_id, part_number)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    folder TEXT NOT NULL,
    job_id INTEGER,
    asset_id TEXT,
    file TEXT,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_at ON events(at);
CREATE TABLE IF NOT EXISTS pauses (
    folder TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS daemon (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    heartbeat REAL NOT NULL,
    state TEXT NOT NULL,
    snapshot TEXT NOT NULL DEFAULT '{}'
);
"""

V01_CLAIM = f"/in/.vodwatch/claims/hostA/1.{A1}.mp4"


def _make_0_1_journal(state_dir: Path) -> Path:
    """Write a journal as 0.1 left it: one uploading multipart job with a sent part."""
    state_dir.mkdir(parents=True)
    path = state_dir / "journal.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.executescript(V01_SCHEMA)
        raw.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        raw.execute("INSERT INTO jobs (id, folder, asset_id, state, has_video, created_at,"
                    " updated_at) VALUES (1, '/in', ?, 'uploading', 1, 1.0, 2.0)", (A1,))
        raw.execute("INSERT INTO files (id, job_id, name, kind, inbox_path, claim_path, size,"
                    " md5, upload_id, part_size, bytes_sent, state) VALUES (1, 1, ?, 'video',"
                    " ?, ?, 2048, 'bWQ1', 'UP1', 1024, 1024, 'uploading')",
                    (f"{A1}.mp4", f"/in/{A1}.mp4", V01_CLAIM))
        raw.execute("INSERT INTO parts VALUES (1, 1, 1024, 'm1', '\"e1\"')")
    finally:
        raw.close()
    return path


def _marker(name: str, inbox: str = "/inbox") -> str:
    return f"{inbox}/.vodwatch/files/{marker_name(name)}"


def _new(name: str, kind: str = "video") -> NewFile:
    return NewFile(name, kind, f"/inbox/{name}", _marker(name))


def _job_with_file(journal: Journal, asset_id: str = A1) -> tuple[int, int]:
    job_id, (file_id,) = journal.create_job("/inbox", asset_id, True,
                                            [_new(f"{asset_id}.mp4")])
    return job_id, file_id


def test_new_journal_is_created_in_wal_mode_with_its_schema(tmp_path: Path) -> None:
    """Opening a journal in a missing state_dir creates the file, the tables and WAL mode."""
    j = Journal.open(tmp_path / "new" / "state")
    j.close()
    path = tmp_path / "new" / "state" / "journal.sqlite3"
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"meta", "jobs", "files", "parts", "events", "pauses", "daemon"} <= tables
        version = raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),)
    finally:
        raw.close()


def test_reopening_a_journal_keeps_its_rows(tmp_path: Path) -> None:
    """A second open of the same file neither recreates tables nor loses jobs."""
    first = Journal.open(tmp_path)
    job_id, _ = _job_with_file(first)
    first.close()
    second = Journal.open(tmp_path)
    try:
        assert second.job(job_id).asset_id == A1
        assert [f.name for f in second.files(job_id)] == [f"{A1}.mp4"]
    finally:
        second.close()


def test_create_job_records_the_job_claiming_with_its_files(journal: Journal,
                                                            clock: FakeClock) -> None:
    """create_job stores the job in state claiming and its files with their markers."""
    job_id, ids = journal.create_job(
        "/inbox", A1, True, [_new(f"{A1}.mp4"), _new(f"{A1}.cover.jpg", "cover")])
    job = journal.job(job_id)
    assert (job.folder, job.asset_id, job.state, job.has_video) == ("/inbox", A1, JobState.CLAIMING,
                                                                    True)
    assert job.created_at == job.updated_at == clock.now and job.finished_at is None
    files = journal.files(job_id)
    assert [f.id for f in files] == ids
    assert [(f.name, f.kind, f.inbox_path, f.marker) for f in files] == [
        (f"{A1}.mp4", "video", f"/inbox/{A1}.mp4", _marker(f"{A1}.mp4")),
        (f"{A1}.cover.jpg", "cover", f"/inbox/{A1}.cover.jpg", _marker(f"{A1}.cover.jpg")),
    ]
    assert all(f.state == "pending" and f.bytes_sent == 0 and f.md5 is None for f in files)
    assert journal.file(ids[1]) == files[1]


def test_create_job_keeps_each_files_marker_and_has_video(journal: Journal) -> None:
    """Each NewFile's own marker is stored as given, and has_video False is kept."""
    job_id, _ = journal.create_job("/inbox", A1, False,
                                   [NewFile("x.srt", "subtitle", "/inbox/x.srt", "/m/x")])
    assert journal.files(job_id)[0].marker == "/m/x"
    assert journal.job(job_id).has_video is False


def test_unknown_job_and_file_ids_raise_key_error(journal: Journal) -> None:
    """Looking up a job or file that does not exist raises KeyError."""
    with pytest.raises(KeyError):
        journal.job(99)
    with pytest.raises(KeyError):
        journal.file(99)
    assert journal.files(99) == []


def test_set_job_and_set_file_round_trip(journal: Journal, clock: FakeClock) -> None:
    """Columns written with set_job and set_file are read back unchanged, updated_at moves."""
    job_id, file_id = _job_with_file(journal)
    clock.now += 5
    walk(journal, job_id, JobState.CLAIMED)
    journal.set_job(job_id, attempts=3, retry_at=123.5, wait_reason="network",
                    error_code="VOD.10051", error_msg="busy")
    journal.set_file(file_id, size=10, mtime_ns=11, ctime_ns=12, ino=13, md5="bWQ1",
                     state="uploading", bytes_sent=7, error="nope")
    job = journal.job(job_id)
    assert (job.state, job.attempts, job.retry_at, job.wait_reason, job.error_code,
            job.error_msg) == (JobState.CLAIMED, 3, 123.5, "network", "VOD.10051", "busy")
    assert job.updated_at == clock.now and job.finished_at is None
    f = journal.file(file_id)
    assert (f.size, f.mtime_ns, f.ctime_ns, f.ino, f.md5, f.state, f.bytes_sent, f.error) == (
        10, 11, 12, 13, "bWQ1", "uploading", 7, "nope")


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
def test_a_final_state_sets_finished_at_and_leaves_unfinished_jobs(
        journal: Journal, clock: FakeClock, state: str) -> None:
    """Moving a job to any final state stamps finished_at and drops it from unfinished_jobs."""
    job_id, _ = _job_with_file(journal)
    other, _ = _job_with_file(journal, A2)
    clock.now += 60
    walk(journal, job_id, state)
    assert journal.job(job_id).finished_at == clock.now
    assert [j.id for j in journal.unfinished_jobs()] == [other]


def test_final_states_are_exactly_the_four_end_words() -> None:
    """Done, failed, requeued and abandoned are final; every working state is not."""
    assert {"done", "failed", "requeued", "abandoned"} == FINAL_STATES
    working = [JobState.CLAIMING, JobState.CLAIMED, JobState.READY, JobState.REQUESTING,
               JobState.REQUESTED, JobState.UPLOADING, JobState.CONFIRMING, JobState.CONFIRMED,
               JobState.FINISHING]
    assert not set(working) & FINAL_STATES


def test_unfinished_jobs_come_oldest_first_in_every_working_state(journal: Journal) -> None:
    """unfinished_jobs lists every job not in a final state, in creation order."""
    ids = []
    for state in (JobState.CONFIRMING, JobState.CLAIMED, JobState.UPLOADING, JobState.FINISHING):
        job_id, _ = _job_with_file(journal)
        walk(journal, job_id, state)
        ids.append(job_id)
    done_id, _ = _job_with_file(journal)
    walk(journal, done_id, JobState.DONE)
    assert [j.id for j in journal.unfinished_jobs()] == ids
    assert [j.id for j in journal.jobs_in([JobState.DONE, JobState.CLAIMED])] == [ids[1], done_id]


def test_only_updatable_columns_can_be_set(journal: Journal) -> None:
    """Identity columns (ids, folder, asset, name, kind) are refused with ValueError."""
    job_id, file_id = _job_with_file(journal)
    with pytest.raises(ValueError, match="asset_id"):
        journal.set_job(job_id, asset_id=A2)
    with pytest.raises(ValueError, match="name"):
        journal.set_file(file_id, name="other.mp4")
    assert journal.job(job_id).asset_id == A1


def test_store_urls_resets_upload_progress_and_parts(journal: Journal) -> None:
    """store_urls records the new URL and forgets the old upload id, bytes sent and parts."""
    job_id, file_id = _job_with_file(journal)
    journal.set_file(file_id, upload_id="OLD", bytes_sent=500, state="uploaded",
                     upload_url="https://old")
    journal.add_part(file_id, PartRow(1, 100, "bWQ1", '"e1"'))
    walk(journal, job_id, "requesting")
    journal.store_urls(job_id, [(file_id, "https://new?Expires=9", 9.0, "bkt", "p/a/k.mp4")])
    f = journal.file(file_id)
    assert (f.upload_url, f.url_expires, f.bucket, f.object_key) == (
        "https://new?Expires=9", 9.0, "bkt", "p/a/k.mp4")
    assert (f.upload_id, f.bytes_sent, f.state) == (None, 0, "pending")
    assert journal.parts(file_id) == []
    assert journal.job(job_id).state == JobState.REQUESTED


def test_a_done_job_cannot_go_back_to_uploading(journal: Journal) -> None:
    job_id, _ = _job_with_file(journal)
    walk(journal, job_id, JobState.DONE)
    with pytest.raises(IllegalMove, match="from done to uploading"):
        journal.set_job(job_id, state=JobState.UPLOADING)
    assert journal.job(job_id).state == JobState.DONE


def test_a_failed_file_cannot_go_back_to_pending(journal: Journal) -> None:
    _, file_id = _job_with_file(journal)
    journal.set_file(file_id, state=FileState.FAILED)
    with pytest.raises(IllegalMove, match="from failed to pending"):
        journal.set_file(file_id, state=FileState.PENDING)
    assert journal.file(file_id).state == FileState.FAILED


@pytest.mark.parametrize("state", [FileState.DONE, FileState.FAILED, FileState.REFUSED])
def test_store_urls_refuses_a_file_that_cannot_be_sent_again(journal: Journal,
                                                             state: FileState) -> None:
    """New URLs put a file back to pending: not a file already done, failed or refused;
    nothing of the answer is kept then (one transaction)."""
    job_id, file_id = _job_with_file(journal)
    if state is FileState.FAILED:
        journal.set_file(file_id, state=FileState.REFUSED)
    journal.set_file(file_id, state=state, upload_url="https://old")
    walk(journal, job_id, JobState.REQUESTING)
    with pytest.raises(IllegalMove, match=f"from {state} to pending"):
        journal.store_urls(job_id, [(file_id, "https://new", 9.0, "bkt", "k.mp4")])
    f = journal.file(file_id)
    assert (f.state, f.upload_url) == (state, "https://old")
    assert journal.job(job_id).state == JobState.REQUESTING


def test_every_state_has_a_row_in_the_moves_table() -> None:
    assert set(JOB_MOVES) == set(JobState)
    assert set(FILE_MOVES) == set(FileState)
    assert all(moves <= set(JobState) for moves in JOB_MOVES.values())
    assert all(moves <= set(FileState) for moves in FILE_MOVES.values())
    assert {state for state, moves in JOB_MOVES.items() if not moves} == FINAL_STATES


def test_parts_are_added_replaced_and_listed_by_number(journal: Journal) -> None:
    """add_part records (or overwrites) one part; replace_parts makes the list exactly given."""
    _, file_id = _job_with_file(journal)
    journal.add_part(file_id, PartRow(3, 30, "m3", '"e3"'))
    journal.add_part(file_id, PartRow(1, 10, "m1", '"e1"'))
    journal.add_part(file_id, PartRow(3, 31, "m3b", '"e3b"'))
    assert journal.parts(file_id) == [PartRow(1, 10, "m1", '"e1"'),
                                      PartRow(3, 31, "m3b", '"e3b"')]
    journal.replace_parts(file_id, [PartRow(2, 20, "m2", '"e2"')])
    assert journal.parts(file_id) == [PartRow(2, 20, "m2", '"e2"')]
    journal.replace_parts(file_id, [])
    assert journal.parts(file_id) == []


def test_drop_file_forgets_the_file_and_its_parts(journal: Journal) -> None:
    """drop_file removes a file that never became ours, parts included."""
    job_id, file_id = _job_with_file(journal)
    journal.add_part(file_id, PartRow(1, 10, "m1", '"e1"'))
    journal.drop_file(file_id)
    assert journal.files(job_id) == []
    assert journal.parts(file_id) == []


def test_recent_events_filters_by_kind_and_folder_newest_first(journal: Journal,
                                                               clock: FakeClock) -> None:
    """recent_events returns only the asked kinds (and folder), newest first, up to limit."""
    for i in range(5):
        clock.now += 1
        journal.event("/in-a", "done" if i % 2 == 0 else "failed", job_id=i, asset_id=A1,
                      file=f"f{i}.mp4", detail=f"d{i}")
    journal.event("/in-b", "done", file="other.mp4")
    journal.event("/in-a", "unavailable", detail="gone")
    done = journal.recent_events(["done"], folder="/in-a")
    assert [e["file"] for e in done] == ["f4.mp4", "f2.mp4", "f0.mp4"]
    assert done[0] | {"id": 0} == {"id": 0, "at": clock.now, "folder": "/in-a", "job_id": 4,
                                   "asset_id": A1, "file": "f4.mp4", "event": "done",
                                   "detail": "d4"}
    both = journal.recent_events(["done", "failed"], limit=2)
    assert [e["file"] for e in both] == ["other.mp4", "f4.mp4"]
    assert journal.count_events("done") == 4
    assert journal.count_events("done", since=clock.now - 1) == 2


def test_pauses_are_set_updated_and_cleared(journal: Journal, clock: FakeClock) -> None:
    """A pause keeps its first 'since' when its reason changes, and clear_pause lifts it."""
    assert journal.pauses() == {}
    journal.set_pause("/in", "credentials", "APIGW.0301")
    first = clock.now
    clock.now += 30
    journal.set_pause("/in", "permission", "VOD.10013")
    journal.set_pause("/other", "credentials", "x")
    pauses = journal.pauses()
    assert pauses["/in"] == {"folder": "/in", "reason": "permission", "detail": "VOD.10013",
                             "since": first}
    journal.clear_pause("/in")
    assert set(journal.pauses()) == {"/other"}


def test_daemon_row_records_start_heartbeat_and_snapshot(journal: Journal,
                                                         clock: FakeClock) -> None:
    """daemon_info is None before a daemon ran, then shows pid, heartbeat, state and snapshot."""
    assert journal.daemon_info() is None
    journal.daemon_started(4242)
    info = journal.daemon_info()
    assert info is not None
    assert (info["pid"], info["state"], info["snapshot"]) == (4242, "starting", {})
    assert info["started_at"] == info["heartbeat"] == clock.now
    clock.now += 10
    journal.daemon_heartbeat("running", {"queue": [{"file": "a.mp4"}], "waiting": 2})
    info = journal.daemon_info()
    assert info is not None
    assert info["heartbeat"] == clock.now and info["started_at"] == clock.now - 10
    assert info["state"] == "running"
    assert info["snapshot"] == {"queue": [{"file": "a.mp4"}], "waiting": 2}


PEER_INBOX = "/mnt/peer/share/inbox"
OUR_INBOX = Path("/srv/share/inbox")


def test_a_ticket_moves_a_job_to_another_journal_rebased_on_our_inbox(
        tmp_path: Path, journal: Journal) -> None:
    """import_job copies the job and files, rebases inbox_path and marker onto our inbox."""
    name = f"{A1}.mp4"
    job_id, (file_id,) = journal.create_job(
        PEER_INBOX, A1, True,
        [NewFile(name, "video", f"{PEER_INBOX}/sub/{name}", _marker(f"sub/{name}", PEER_INBOX))])
    walk(journal, job_id, JobState.UPLOADING)
    journal.set_job(job_id, attempts=4, outcome="failed",
                    outcome_reason="{}")
    journal.set_file(file_id, size=2048, md5="bWQ1", upload_id="UP1", bucket="bkt",
                     object_key="k.mp4", part_size=1024, upload_url=SIGNED, url_expires=9.0,
                     mtime_ns=5, ctime_ns=6, ino=7, bytes_sent=1024, state="uploading")
    journal.add_part(file_id, PartRow(1, 1024, "m1", '"e1"'))
    ticket = {**journal.export_job(job_id), "inbox": PEER_INBOX}
    assert ticket["files"][0]["upload_url"] == SIGNED  # even if a ticket carried one...
    ticket = json.loads(json.dumps(ticket))  # as read back from the share
    other = Journal.open(tmp_path / "peer")
    try:
        other.create_job("/x", A2, False, [])  # ids differ between journals
        new_id, files = other.import_job(str(OUR_INBOX), ticket, OUR_INBOX)
        assert new_id != job_id
        assert files == other.files(new_id)
        job = other.job(new_id)
        assert (job.folder, job.asset_id, job.state, job.has_video, job.attempts,
                job.outcome) == (str(OUR_INBOX), A1, JobState.UPLOADING, True, 0, "failed")
        (f,) = files
        assert f.inbox_path == str(OUR_INBOX / "sub" / name)
        assert f.marker == _marker(f"sub/{name}", str(OUR_INBOX))
        assert f.upload_url is None  # ...it is never copied: the job asks for a new one
        assert (f.size, f.md5, f.upload_id, f.bucket, f.object_key, f.part_size, f.mtime_ns,
                f.ctime_ns, f.ino, f.state) == (2048, "bWQ1", "UP1", "bkt", "k.mp4", 1024, 5,
                                                 6, 7, "uploading")
        assert other.parts(f.id) == []  # the store's list of parts is the truth on resume
    finally:
        other.close()


def test_a_ticket_without_an_inbox_is_rebased_by_file_name(tmp_path: Path,
                                                           journal: Journal) -> None:
    """A ticket that does not say its inbox, or a path outside it, lands at inbox/<name>."""
    job_id, _ = journal.create_job(
        PEER_INBOX, A1, True,
        [NewFile(f"{A1}.mp4", "video", f"{PEER_INBOX}/{A1}.mp4", _marker(f"{A1}.mp4")),
         NewFile(f"{A1}.cover.jpg", "cover", f"/elsewhere/{A1}.cover.jpg",
                 _marker(f"{A1}.cover.jpg"))])
    ticket = json.loads(json.dumps(journal.export_job(job_id)))
    other = Journal.open(tmp_path / "peer")
    try:
        _, files = other.import_job(str(OUR_INBOX), ticket, OUR_INBOX)
        assert [(f.inbox_path, f.marker) for f in files] == [
            (str(OUR_INBOX / f"{A1}.mp4"), _marker(f"{A1}.mp4", str(OUR_INBOX))),
            (str(OUR_INBOX / f"{A1}.cover.jpg"), _marker(f"{A1}.cover.jpg", str(OUR_INBOX)))]
        _, files = other.import_job(str(OUR_INBOX), {**ticket, "inbox": PEER_INBOX},
                                    OUR_INBOX)
        assert files[1].inbox_path == str(OUR_INBOX / f"{A1}.cover.jpg")
    finally:
        other.close()


def test_a_0_1_journal_is_migrated_on_open(tmp_path: Path) -> None:
    """Opening a 0.1 journal renames claim_path to marker, keeps every row, flags legacy claims."""
    path = _make_0_1_journal(tmp_path / "state")
    journal = Journal.open(tmp_path / "state")
    try:
        (f,) = journal.files(1)
        assert (f.name, f.inbox_path, f.marker) == (f"{A1}.mp4", f"/in/{A1}.mp4", V01_CLAIM)
        assert (f.size, f.md5, f.upload_id, f.part_size, f.bytes_sent, f.state) == (
            2048, "bWQ1", "UP1", 1024, 1024, "uploading")
        assert journal.parts(1) == [PartRow(1, 1024, "m1", '"e1"')]
        assert [j.id for j in journal.unfinished_jobs()] == [1]
        assert journal.job(1).state == JobState.UPLOADING
        assert journal.get_meta("legacy_claims")
        assert journal.get_meta("schema_version") == SCHEMA_VERSION == 2
        new_id, _ = journal.create_job("/in", A2, False, [_new(f"{A2}.cover.jpg", "cover")])
        assert new_id == 2
    finally:
        journal.close()
    raw = sqlite3.connect(path)
    try:
        columns = {r[1] for r in raw.execute("PRAGMA table_info(files)")}
        assert "marker" in columns and "claim_path" not in columns
    finally:
        raw.close()
    again = Journal.open(tmp_path / "state")  # a second open finds nothing more to do
    try:
        assert again.files(1)[0].marker == V01_CLAIM
        assert again.get_meta("legacy_claims")
        assert again.get_meta("schema_version") == 2
    finally:
        again.close()


def test_a_new_journal_has_no_legacy_claims(journal: Journal) -> None:
    """A journal created by this version never asks for the 0.1 upgrade step."""
    assert journal.get_meta("legacy_claims") is None
    assert journal.get_meta("schema_version") == SCHEMA_VERSION


def test_a_0_1_journal_opened_read_only_still_lists_a_jobs_files(tmp_path: Path) -> None:
    """A read-only reader (status) of a not yet migrated 0.1 journal can list a job's files."""
    path = _make_0_1_journal(tmp_path / "state")
    reader = Journal(path, readonly=True)
    try:
        assert [f.name for f in reader.files(1)] == [f"{A1}.mp4"]
    finally:
        reader.close()


def test_get_meta_and_set_meta_round_trip(tmp_path: Path) -> None:
    """set_meta stores JSON values that get_meta returns unchanged, across a reopen too."""
    journal = Journal.open(tmp_path)
    try:
        assert journal.get_meta("share:/in") is None
        ident = {"id": "f" * 32, "dev": 2049}
        journal.set_meta("share:/in", ident)
        journal.set_meta("list", [1, "two", None])
        journal.set_meta("text", "plain")
        assert journal.get_meta("share:/in") == ident
        journal.set_meta("share:/in", {**ident, "dev": 7})
        assert journal.get_meta("share:/in") == {**ident, "dev": 7}
        journal.set_meta("legacy_claims", None)
        assert journal.get_meta("legacy_claims") is None
    finally:
        journal.close()
    again = Journal.open(tmp_path)
    try:
        assert again.get_meta("share:/in") == {**ident, "dev": 7}
        assert again.get_meta("list") == [1, "two", None]
        assert again.get_meta("text") == "plain"
    finally:
        again.close()


def test_export_job_is_plain_json_data(journal: Journal) -> None:
    """A ticket holds the job's and files' columns under plain names, JSON-serialisable."""
    job_id, _ = _job_with_file(journal)
    ticket = journal.export_job(job_id)
    assert set(ticket) == {"job", "files"}
    assert set(ticket["files"][0]) == set(FileRow.__dataclass_fields__)
    assert json.loads(json.dumps(ticket))["job"]["asset_id"] == A1


def test_prune_forgets_old_finished_jobs_and_old_events_only(journal: Journal,
                                                             clock: FakeClock) -> None:
    """prune deletes finished jobs (files, parts) and events older than the cut-off."""
    old_done, old_file = _job_with_file(journal)
    journal.add_part(old_file, PartRow(1, 1, "m", '"e"'))
    walk(journal, old_done, JobState.DONE)
    old_open, _ = _job_with_file(journal)
    walk(journal, old_open, JobState.UPLOADING)
    journal.event("/in", "done", job_id=old_done)
    clock.now += 1000
    cut = clock.now - 1
    new_done, _ = _job_with_file(journal)
    walk(journal, new_done, JobState.FAILED)
    journal.event("/in", "failed", job_id=new_done)
    journal.prune(cut)
    with pytest.raises(KeyError):
        journal.job(old_done)
    with pytest.raises(KeyError):
        journal.file(old_file)
    assert journal.parts(old_file) == []
    assert journal.job(old_open).state == JobState.UPLOADING
    assert journal.job(new_done).state == JobState.FAILED
    assert [e["job_id"] for e in journal.recent_events(["done", "failed"])] == [new_done]


def test_read_only_journal_reads_while_a_writer_holds_a_transaction(tmp_path: Path) -> None:
    """A read-only journal sees committed rows at once, even during another's write."""
    writer = Journal.open(tmp_path)
    reader = Journal(tmp_path / "journal.sqlite3", readonly=True)
    raw = sqlite3.connect(tmp_path / "journal.sqlite3", isolation_level=None)
    try:
        job_id, _ = _job_with_file(writer)
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("INSERT INTO events (at, folder, event) VALUES (1, '/in', 'uncommitted')")
        started = time.monotonic()
        assert reader.job(job_id).asset_id == A1
        assert reader.recent_events(["uncommitted"]) == []
        assert time.monotonic() - started < 1.0
        raw.execute("COMMIT")
        walk(writer, job_id, JobState.DONE)
        assert reader.job(job_id).state == JobState.DONE
        assert len(reader.recent_events(["uncommitted"])) == 1
    finally:
        raw.close()
        reader.close()
        writer.close()


def test_read_only_journal_refuses_writes(tmp_path: Path) -> None:
    """Writing through a read-only journal fails instead of changing the database."""
    Journal.open(tmp_path).close()
    reader = Journal(tmp_path / "journal.sqlite3", readonly=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.event("/in", "done")
    finally:
        reader.close()


def test_read_only_journal_of_a_missing_file_fails(tmp_path: Path) -> None:
    """A read-only open never creates the journal: a missing file is an error."""
    with pytest.raises(sqlite3.OperationalError):
        Journal(tmp_path / "none.sqlite3", readonly=True)
    assert not (tmp_path / "none.sqlite3").exists()


def test_concurrent_writers_from_threads_never_hit_database_is_locked(tmp_path: Path) -> None:
    """Threads writing through one shared and two separate connections all succeed."""
    shared = Journal.open(tmp_path)
    second = Journal.open(tmp_path)
    errors: list[BaseException] = []
    job_id, file_id = _job_with_file(shared)

    def work(j: Journal, n: int) -> None:
        try:
            for i in range(40):
                j.event("/in", "tick", job_id=n, detail=str(i))
                j.add_part(file_id, PartRow(n * 100 + i + 1, 1, "m", '"e"'))
                j.set_job(job_id, attempts=i)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(shared if n % 2 else second, n))
               for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert errors == []
        assert shared.count_events("tick") == 240
        assert len(second.parts(file_id)) == 240
    finally:
        shared.close()
        second.close()

"""The journal against a real SQLite file in tmp_path: schema, round trips, tickets, readers."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vodwatch import journal as J
from vodwatch.journal import FileRow, Journal, NewFile, PartRow

A1 = "a1" * 16
A2 = "b2" * 16


class FakeClock:
    """A settable wall clock for the journal's timestamps."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "state", clock=clock)
    yield j
    j.close()


def _new(name: str, kind: str = "video", claim: str = "") -> NewFile:
    return NewFile(name, kind, f"/inbox/{name}", claim)


def _job_with_file(journal: Journal, asset_id: str = A1) -> tuple[int, int]:
    job_id, (file_id,) = journal.create_job("/inbox", asset_id, True,
                                            [_new(f"{asset_id}.mp4")],
                                            claim_path_for=lambda j, n: f"/claims/{j}.{n}")
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
        assert version == (str(J.SCHEMA_VERSION),)
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
    """create_job stores the job in state claiming and its files with computed claim paths."""
    job_id, ids = journal.create_job(
        "/inbox", A1, True, [_new(f"{A1}.mp4"), _new(f"{A1}.cover.jpg", "cover")],
        claim_path_for=lambda j, n: f"/claims/{j}.{n}")
    job = journal.job(job_id)
    assert (job.folder, job.asset_id, job.state, job.has_video) == ("/inbox", A1, J.CLAIMING,
                                                                    True)
    assert job.created_at == job.updated_at == clock.now and job.finished_at is None
    files = journal.files(job_id)
    assert [f.id for f in files] == ids
    assert [(f.name, f.kind, f.inbox_path, f.claim_path) for f in files] == [
        (f"{A1}.mp4", "video", f"/inbox/{A1}.mp4", f"/claims/{job_id}.{A1}.mp4"),
        (f"{A1}.cover.jpg", "cover", f"/inbox/{A1}.cover.jpg",
         f"/claims/{job_id}.{A1}.cover.jpg"),
    ]
    assert all(f.state == "pending" and f.bytes_sent == 0 and f.md5 is None for f in files)
    assert journal.file(ids[1]) == files[1]


def test_create_job_without_a_path_function_keeps_the_given_claim_paths(
        journal: Journal) -> None:
    """Without claim_path_for, each NewFile's own claim_path is stored."""
    job_id, _ = journal.create_job("/inbox", A1, False, [_new("x.srt", "subtitle", "/c/x")])
    assert journal.files(job_id)[0].claim_path == "/c/x"
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
    journal.set_job(job_id, state=J.READY, attempts=3, retry_at=123.5, wait_reason="network",
                    error_code="VOD.10051", error_msg="busy")
    journal.set_file(file_id, size=10, mtime_ns=11, ctime_ns=12, ino=13, md5="bWQ1",
                     state="uploading", bytes_sent=7, error="nope")
    job = journal.job(job_id)
    assert (job.state, job.attempts, job.retry_at, job.wait_reason, job.error_code,
            job.error_msg) == (J.READY, 3, 123.5, "network", "VOD.10051", "busy")
    assert job.updated_at == clock.now and job.finished_at is None
    f = journal.file(file_id)
    assert (f.size, f.mtime_ns, f.ctime_ns, f.ino, f.md5, f.state, f.bytes_sent, f.error) == (
        10, 11, 12, 13, "bWQ1", "uploading", 7, "nope")


@pytest.mark.parametrize("state", sorted(J.FINAL_STATES))
def test_a_final_state_sets_finished_at_and_leaves_unfinished_jobs(
        journal: Journal, clock: FakeClock, state: str) -> None:
    """Moving a job to any final state stamps finished_at and drops it from unfinished_jobs."""
    job_id, _ = _job_with_file(journal)
    other, _ = _job_with_file(journal, A2)
    clock.now += 60
    journal.set_job(job_id, state=state)
    assert journal.job(job_id).finished_at == clock.now
    assert [j.id for j in journal.unfinished_jobs()] == [other]


def test_final_states_are_exactly_the_four_end_words() -> None:
    """Done, failed, requeued and abandoned are final; every working state is not."""
    assert {"done", "failed", "requeued", "abandoned"} == J.FINAL_STATES
    working = [J.CLAIMING, J.CLAIMED, J.READY, J.REQUESTING, J.REQUESTED, J.UPLOADING,
               J.CONFIRMING, J.CONFIRMED, J.FINISHING]
    assert not set(working) & J.FINAL_STATES


def test_unfinished_jobs_come_oldest_first_in_every_working_state(journal: Journal) -> None:
    """unfinished_jobs lists every job not in a final state, in creation order."""
    ids = []
    for state in (J.CONFIRMING, J.CLAIMED, J.UPLOADING, J.FINISHING):
        job_id, _ = _job_with_file(journal)
        journal.set_job(job_id, state=state)
        ids.append(job_id)
    done_id, _ = _job_with_file(journal)
    journal.set_job(done_id, state=J.DONE)
    assert [j.id for j in journal.unfinished_jobs()] == ids
    assert [j.id for j in journal.jobs_in([J.DONE, J.CLAIMED])] == [ids[1], done_id]


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
    journal.store_urls(job_id, [(file_id, "https://new?Expires=9", 9.0, "bkt", "p/a/k.mp4")])
    f = journal.file(file_id)
    assert (f.upload_url, f.url_expires, f.bucket, f.object_key) == (
        "https://new?Expires=9", 9.0, "bkt", "p/a/k.mp4")
    assert (f.upload_id, f.bytes_sent, f.state) == (None, 0, "pending")
    assert journal.parts(file_id) == []
    assert journal.job(job_id).state == J.REQUESTED


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


def test_a_ticket_moves_a_job_to_another_journal_with_new_claim_paths(
        tmp_path: Path, journal: Journal) -> None:
    """export_job then import_job elsewhere copies the job and files, rewrites claim paths."""
    job_id, file_id = _job_with_file(journal)
    journal.set_job(job_id, state=J.UPLOADING, attempts=4, outcome="failed",
                    outcome_reason="{}")
    journal.set_file(file_id, size=2048, md5="bWQ1", upload_id="UP1", bucket="bkt",
                     object_key="k.mp4", part_size=1024, upload_url="https://u", mtime_ns=5)
    journal.add_part(file_id, PartRow(1, 1024, "m1", '"e1"'))
    ticket = json.loads(json.dumps(journal.export_job(job_id)))  # as written to disk
    other = Journal.open(tmp_path / "peer")
    try:
        other.create_job("/x", A2, False, [])  # ids differ between journals
        new_id, moves = other.import_job("/peer-inbox", ticket,
                                         lambda j, n: Path(f"/mine/{j}.{n}"))
        assert new_id != job_id
        job = other.job(new_id)
        assert (job.folder, job.asset_id, job.state, job.has_video, job.attempts,
                job.outcome) == ("/peer-inbox", A1, J.UPLOADING, True, 0, "failed")
        (f,) = other.files(new_id)
        assert f.claim_path == f"/mine/{new_id}.{A1}.mp4"
        assert moves == [(f"/claims/{job_id}.{A1}.mp4", f.claim_path)]
        assert (f.size, f.md5, f.upload_id, f.bucket, f.object_key, f.part_size,
                f.mtime_ns) == (2048, "bWQ1", "UP1", "bkt", "k.mp4", 1024, 5)
        assert other.parts(f.id) == []  # the store's list of parts is the truth on resume
    finally:
        other.close()


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
    journal.set_job(old_done, state=J.DONE)
    old_open, _ = _job_with_file(journal)
    journal.set_job(old_open, state=J.UPLOADING)
    journal.event("/in", "done", job_id=old_done)
    clock.now += 1000
    cut = clock.now - 1
    new_done, _ = _job_with_file(journal)
    journal.set_job(new_done, state=J.FAILED)
    journal.event("/in", "failed", job_id=new_done)
    journal.prune(cut)
    with pytest.raises(KeyError):
        journal.job(old_done)
    with pytest.raises(KeyError):
        journal.file(old_file)
    assert journal.parts(old_file) == []
    assert journal.job(old_open).state == J.UPLOADING
    assert journal.job(new_done).state == J.FAILED
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
        writer.set_job(job_id, state=J.DONE)
        assert reader.job(job_id).state == J.DONE
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

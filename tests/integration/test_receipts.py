"""The delivery record in done/ on real files: format, days, restarts, refusals, readers."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.mounts import read_only
from vodwatch.receipts import HEADER, Delivery, DeliveryRecords

CET = ZoneInfo("Europe/Paris")
ASSET = "0123456789abcdef0123456789abcdef"
MD5 = "0CC175B9C0F1B6A831C399E269772661"
AT = datetime(2026, 11, 30, 13, 5, 9, tzinfo=UTC).timestamp()  # 14:05:09 CET
DAY = 24 * 3600.0


def delivery(name: str = f"{ASSET}.mp4", at: float = AT, **changes: object) -> Delivery:
    """A video delivery of ``name`` at ``at`` (14:05:09 CET by default)."""
    values: dict[str, object] = {
        "at": at, "file": name, "original": name, "asset_id": ASSET, "became": "video",
        "size": 1234567, "md5_hex": MD5, "request_id": "req-1", "folder": "news"}
    values.update(changes)
    return Delivery(**values)  # type: ignore[arg-type]


@pytest.fixture
def done(tmp_path: Path) -> Path:
    """An empty done/ folder."""
    path = tmp_path / "share" / "done"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def pending(tmp_path: Path) -> Path:
    """Where the daemon keeps records not yet written (in its state_dir)."""
    state = tmp_path / "state"
    state.mkdir()
    return state / "deliveries.pending"


def records(done: Path, pending: Path, label: str = "edit-01") -> DeliveryRecords:
    """The records of daemon ``label``, days in Paris time."""
    return DeliveryRecords(done, label, pending, tz=CET)


def read_rows(path: Path) -> list[list[str]]:
    """The rows of a record file, header included, read as Excel's CSV."""
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def csv_files(done: Path) -> list[str]:
    """The record files in ``done``, sorted."""
    return sorted(p.name for p in done.iterdir() if p.suffix == ".csv")


def test_csv_is_excel_ready_and_parses_back(done: Path, pending: Path) -> None:
    """The file has a BOM, CRLF line ends and a header, and parses back to the delivery."""
    assert records(done, pending).record(delivery(size=42)) is True
    path = done / "deliveries 2026-11-30 edit-01.csv"
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.endswith(b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n") == 2
    assert read_rows(path) == [list(HEADER), [
        "2026-11-30 14:05:09 CET", f"{ASSET}.mp4", ASSET, "video", "42", MD5.lower(),
        "req-1", "news"]]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(os.listdir(done)) == [path.name]  # no temp file left behind
    assert not pending.exists()


def test_two_deliveries_same_day_share_one_file(done: Path, pending: Path) -> None:
    """Two deliveries on one day are two rows of one file, in order."""
    rec = records(done, pending)
    assert rec.record(delivery("a.mp4"))
    assert rec.record(delivery("b, \"quoted\".mp4", at=AT + 3600))
    assert csv_files(done) == ["deliveries 2026-11-30 edit-01.csv"]
    rows = read_rows(done / "deliveries 2026-11-30 edit-01.csv")
    assert [row[1] for row in rows[1:]] == ["a.mp4", "b, \"quoted\".mp4"]
    assert rec.pending == 0


def test_another_local_day_gets_another_file(done: Path, pending: Path) -> None:
    """Days follow local time: 23:30 UTC on 30 November is 1 December in Paris."""
    rec = records(done, pending)
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC).timestamp()
    assert rec.record(delivery("a.mp4"))
    assert rec.record(delivery("b.mp4", at=late))
    assert csv_files(done) == ["deliveries 2026-11-30 edit-01.csv",
                               "deliveries 2026-12-01 edit-01.csv"]
    rows = read_rows(done / "deliveries 2026-12-01 edit-01.csv")
    assert rows[1][:2] == ["2026-12-01 00:30:00 CET", "b.mp4"]


def test_restart_adds_to_the_day_without_losing_or_repeating(done: Path, pending: Path) -> None:
    """A new instance keeps the day's earlier rows, adds its own, and writes none twice."""
    first = records(done, pending)
    assert first.record(delivery("a.mp4"))
    assert first.record(delivery("b.mp4", at=AT + 1))
    again = records(done, pending)
    assert again.record(delivery("c.mp4", at=AT + 2))
    assert again.record(delivery("b.mp4", at=AT + 1))  # the same delivery told again
    rows = read_rows(done / "deliveries 2026-11-30 edit-01.csv")
    assert [row[1] for row in rows] == ["File", "a.mp4", "b.mp4", "c.mp4"]


def test_two_daemons_write_their_own_files(done: Path, tmp_path: Path) -> None:
    """Each label has its own file; writing one leaves the other's untouched."""
    one = records(done, tmp_path / "one.pending", "edit-01")
    two = records(done, tmp_path / "two.pending", "edit-02")
    assert one.record(delivery("a.mp4"))
    theirs = done / "deliveries 2026-11-30 edit-01.csv"
    before = theirs.stat()
    content = theirs.read_bytes()
    assert two.record(delivery("b.mp4"))
    assert two.record(delivery("c.mp4", at=AT + 1))
    after = theirs.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert theirs.read_bytes() == content
    ours = read_rows(done / "deliveries 2026-11-30 edit-02.csv")
    assert [row[1] for row in ours[1:]] == ["b.mp4", "c.mp4"]


def test_refused_write_stays_pending_and_a_restart_writes_it(done: Path, pending: Path) -> None:
    """A refused write waits in pending_file; a new instance writes it once, when it can."""
    target = done / "deliveries 2026-11-30 edit-01.csv"
    target.mkdir()  # os.replace onto it fails (IsADirectoryError), as a locked file would
    rec = records(done, pending)
    assert rec.record(delivery("a.mp4")) is False
    assert rec.record(delivery("b.mp4", at=AT + 1)) is False
    assert rec.pending == 2
    assert rec.last_error is not None and "deliveries 2026-11-30 edit-01.csv" in rec.last_error
    assert rec.flush() is False
    kept = [json.loads(line)["file"] for line in pending.read_text().splitlines()]
    assert kept == ["a.mp4", "b.mp4"]
    assert [p.name for p in done.iterdir()] == [target.name]  # no temp file left behind

    target.rmdir()
    restarted = records(done, pending)
    assert restarted.pending == 2
    assert restarted.flush() is True
    assert restarted.last_error is None
    assert restarted.pending == 0
    assert not pending.exists()
    assert restarted.flush() is True
    rows = read_rows(target)
    assert [row[1] for row in rows[1:]] == ["a.mp4", "b.mp4"]


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``path`` readable but not replaceable (EPERM), as a CSV that Excel holds open on SMB."""
    run = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True,
                         check=False)
    if run.returncode != 0:
        pytest.skip(f"cannot make a file immutable here (chattr: {run.stderr.strip()})")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=True)


def test_locked_file_keeps_its_rows_and_the_new_ones_wait(done: Path, pending: Path) -> None:
    """A day's file that can be read but not replaced keeps the new record pending, no temp left."""
    path = done / "deliveries 2026-11-30 edit-01.csv"
    rec = records(done, pending)
    assert rec.record(delivery("a.mp4"))
    with immutable(path):
        assert rec.record(delivery("b.mp4", at=AT + 1)) is False
        assert rec.flush() is False
        assert rec.last_error is not None and "not permitted" in rec.last_error
        assert sorted(os.listdir(done)) == [path.name]
        assert [row[1] for row in read_rows(path)[1:]] == ["a.mp4"]
    assert rec.flush() is True
    assert [row[1] for row in read_rows(path)[1:]] == ["a.mp4", "b.mp4"]


def test_read_only_share_stays_pending_until_writable(done: Path, pending: Path) -> None:
    """A read-only done/ (real EROFS) keeps records pending; flush writes them afterwards."""
    rec = records(done, pending)
    with read_only(done):
        assert rec.record(delivery("a.mp4")) is False
        assert rec.flush() is False
        assert rec.last_error is not None and "Read-only" in rec.last_error
    assert rec.pending == 1
    assert pending.exists()
    assert rec.flush() is True
    assert [row[1] for row in read_rows(done / "deliveries 2026-11-30 edit-01.csv")[1:]] == [
        "a.mp4"]


def test_missing_done_folder_stays_pending(done: Path, pending: Path) -> None:
    """With done/ gone (share not mounted) nothing is created; the record waits for it."""
    shutil.rmtree(done)
    rec = records(done, pending)
    assert rec.record(delivery("a.mp4")) is False
    assert not done.exists()
    done.mkdir()
    assert rec.flush() is True
    assert csv_files(done) == ["deliveries 2026-11-30 edit-01.csv"]


def test_formula_names_are_defused(done: Path, pending: Path) -> None:
    """File names and folders starting with = + - @ are shown with a leading apostrophe."""
    rec = records(done, pending)
    names = ["=HYPERLINK(\"http://evil\",\"x\").mp4", "+1.mp4", "-2.mp4", "@SUM(1).mp4"]
    for i, name in enumerate(names):
        assert rec.record(delivery(name, at=AT + i, folder="=cmd|' /C calc'!A0"))
    rows = read_rows(done / "deliveries 2026-11-30 edit-01.csv")[1:]
    assert [row[1] for row in rows] == ["'" + name for name in names]
    assert {row[7] for row in rows} == {"'=cmd|' /C calc'!A0"}


def test_line_break_in_a_name_is_escaped(done: Path, pending: Path) -> None:
    """A name holding a line break stays on one line, the break shown as \\x0a."""
    rec = records(done, pending)
    assert rec.record(delivery("two\nlines\r.mp4"))
    data = read_rows(done / "deliveries 2026-11-30 edit-01.csv")
    assert data[1][1] == "two\\x0alines\\x0d.mp4"
    assert (done / "deliveries 2026-11-30 edit-01.csv").read_bytes().count(b"\n") == 2


def test_rows_someone_else_added_are_kept(done: Path, pending: Path) -> None:
    """A row the daemon did not write (an editor's note) survives the next rewrite."""
    path = done / "deliveries 2026-11-30 edit-01.csv"
    rec = records(done, pending)
    assert rec.record(delivery("a.mp4"))
    with path.open("ab") as out:
        out.write("note by Zoë\r\n".encode())
    assert rec.record(delivery("b.mp4", at=AT + 1))
    rows = read_rows(path)
    assert [row[0] if len(row) == 1 else row[1] for row in rows[1:]] == [
        "a.mp4", "note by Zoë", "b.mp4"]


def test_torn_pending_file_keeps_its_whole_lines(done: Path, pending: Path) -> None:
    """A pending_file with a broken line still gives back every whole record."""
    shutil.rmtree(done)
    rec = records(done, pending)
    assert rec.record(delivery("a.mp4")) is False
    with pending.open("a") as out:
        out.write('{"at": 1, "file": "half')
    done.mkdir()
    restarted = records(done, pending)
    assert restarted.pending == 1
    assert restarted.flush() is True


def test_undecodable_name_survives_a_restart_while_pending(done: Path, pending: Path) -> None:
    """A name with a byte that is not UTF-8 is kept pending as is and shown escaped."""
    shutil.rmtree(done)
    assert records(done, pending).record(delivery("caf\udce9.mp4")) is False
    with pending.open("a") as out:
        out.write(json.dumps({**json.loads(pending.read_text()), "at": 1e300}) + "\n")
    done.mkdir()
    restarted = records(done, pending)
    assert restarted.pending == 1  # the time without a date was dropped, not a crash
    assert restarted.flush() is True
    assert read_rows(done / "deliveries 2026-11-30 edit-01.csv")[1][1] == "caf\\xe9.mp4"


def test_reader_never_sees_a_partial_file(done: Path, pending: Path) -> None:
    """A reader looping on the file while 100 records are written always sees a whole file."""
    path = done / "deliveries 2026-11-30 edit-01.csv"
    rec = records(done, pending)
    assert rec.record(delivery("0.mp4"))
    stop = threading.Event()
    seen: list[int] = []
    problems: list[str] = []

    def read() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
            if not (data.startswith(b"\xef\xbb\xbf") and data.endswith(b"\r\n")
                    and rows[0] == list(HEADER) and all(len(r) == 8 for r in rows)
                    and [r[1] for r in rows[1:]] == [f"{i}.mp4" for i in range(len(rows) - 1)]):
                problems.append(repr(data[-80:]))
            seen.append(len(rows) - 1)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(1, 100):
            assert rec.record(delivery(f"{i}.mp4", at=AT + i))
    finally:
        stop.set()
        reader.join()
    assert problems == []
    assert seen == sorted(seen)  # never went back
    assert len(set(seen)) > 1  # the reader did look while the file grew
    assert len(read_rows(path)) == 101

"""What News puts on the status page: queue places in the order files are sent, the error
file a failure really has, "Not available" without writing into an empty mount point, a
refresh that writes only news, and a notification per change of state."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from structlog.testing import capture_logs

from tests.mounts import read_only
from tests.receiver import Receiver
from vodwatch.config import FolderSet
from vodwatch.finish import failed_detail
from vodwatch.news import News, queue_positions, view
from vodwatch.receipts import Delivery
from vodwatch.settle import Pending
from vodwatch.share_faults import refusing_folder

A = "a1" * 16
B = "b2" * 16
C = "c3" * 16


def _pending(size: int = 10, settled: bool = True) -> Pending:
    return Pending(size=size, mtime_ns=1, ctime_ns=1, ino=1, first_seen=0.0, stable_since=0.0,
                   last_seen=5.0, changes=0, poked=False, settled=settled)


def _news(tmp_path: Path, notify: tuple[str, ...] = ()) -> News:
    inbox = tmp_path / "share" / "inbox"
    for d in (inbox, tmp_path / "share" / "done", tmp_path / "share" / "failed"):
        d.mkdir(parents=True)
    folder_set = FolderSet(inbox, inbox.parent / "done", inbox.parent / "failed", "https://e", A,
                   "auto", False, status_file=inbox.parent / "inbox status.txt",
                   label="News desk", notify=notify)
    return News(folder_set, "host-a", tmp_path / "state", {})


def _told(receiver: Receiver) -> list[str]:
    return [str(r.body.get("title", "")) for r in receiver.requests]


def _view(state: str = "working", why: str | None = None) -> dict:
    return view(state=state, why=why, pending={}, jobs=[], not_handled={}, recent=[])


def test_queue_places_follow_the_order_files_are_sent() -> None:
    """Refused names and empty files first, then assets by ID whatever the case of the
    name; files of one request share a place; a second video waits for the next round."""
    inbox = Path("/inbox")
    settled = {inbox / f"{C.upper()}.cover.jpg": 5, inbox / f"{B}.cover.jpg": 5,
               inbox / f"{B}.mp4": 5, inbox / f"{B} (2).mp4": 5, inbox / "notes.doc": 5,
               inbox / f"{A}.cover.jpg": 0}
    assert queue_positions(settled) == {
        inbox / f"{A}.cover.jpg": 1, inbox / "notes.doc": 2,
        inbox / f"{B} (2).mp4": 3, inbox / f"{B}.cover.jpg": 3,
        inbox / f"{C.upper()}.cover.jpg": 4, inbox / f"{B}.mp4": 5}
    shown = view(state="working", why=None, jobs=[], not_handled={}, recent=[],
                 pending={p: _pending(size) for p, size in settled.items()}
                 | {inbox / "copying.mp4": _pending(settled=False)})
    places = {f["name"]: f.get("position") for f in shown["files"]}
    assert places[f"{C.upper()}.cover.jpg"] == 4 and places["copying.mp4"] is None


def test_a_failure_points_at_the_error_file_of_its_name_in_failed() -> None:
    """A failure journaled with its name in failed/ shows the sentence and that error file;
    one journaled before (the sentence alone) still shows its sentence."""
    recent = [{"at": 1.0, "file": "notes.doc", "outcome": "failed", "asset_id": "",
               "detail": failed_detail("It is not a video.", "notes (2).doc")},
              {"at": 0.5, "file": "old.doc", "outcome": "failed", "asset_id": "",
               "detail": "It was refused."},
              {"at": 0.2, "file": f"{A}.mp4", "outcome": "done", "asset_id": A,
               "detail": ""}]
    shown = view(state="working", why=None, pending={}, jobs=[], not_handled={},
                 recent=recent)["recent"]
    assert shown[0]["detail"] == "It is not a video."
    assert shown[0]["error_file"] == "notes (2).doc.error.txt"
    assert shown[1] == recent[1] and shown[2] == recent[2]


def test_an_unavailable_folder_set_still_says_so_on_a_mounted_share(tmp_path: Path) -> None:
    """Unavailable (done/ refuses), the share mounted: the page says "Not available" and why;
    it has a part in the inbox's hidden folder, which the daemon made."""
    news = _news(tmp_path)
    (news.folder_set.inbox / ".vodwatch").mkdir()
    news.refresh(_view(), share_ok=True)
    assert "Working" in news.folder_set.status_file.read_text(encoding="utf-8-sig")
    news.refresh(_view("unavailable", "done/ is read-only"), share_ok=False)
    text = news.folder_set.status_file.read_text(encoding="utf-8-sig")
    assert "Not available: done/ is read-only" in text and "Working" not in text
    news.stopped(share_ok=False)
    assert "Stopped at" in news.folder_set.status_file.read_text(encoding="utf-8-sig")


def test_an_unmounted_share_gets_nothing_written(tmp_path: Path) -> None:
    """Without the inbox's hidden folder (an empty mount point), unavailable: no inbox, no
    folder, no page is made; not even with share_ok still True (not noticed yet)."""
    news = _news(tmp_path)
    share = news.folder_set.inbox.parent
    for d in ("inbox", "done", "failed"):
        (share / d).rmdir()
    for ok in (False, True):
        news.refresh(_view("unavailable", "the inbox is missing"), share_ok=ok)
    news.stopped(share_ok=False)
    assert os.listdir(share) == []


def test_a_refused_move_names_the_folder_that_refused(tmp_path: Path) -> None:
    """A move's error names the file moved; the fault is told as the folder's that refuses
    a write, else as the target folder's; a vanished file stays the file's."""
    moved = str(tmp_path / "inbox" / "clip.mp4")
    missing = tmp_path / "done"
    refused = refusing_folder(OSError(errno.EROFS, "Read-only file system", moved),
                              [missing, tmp_path])
    assert refused.filename == str(missing)
    full = refusing_folder(OSError(errno.ENOSPC, "No space left on device", moved),
                           [tmp_path, tmp_path])
    assert (full.errno, full.filename) == (errno.ENOSPC, str(tmp_path))
    gone = OSError(errno.ENOENT, "No such file or directory", moved)
    assert refusing_folder(gone, [tmp_path]) is gone


def test_a_first_working_state_sends_nothing(tmp_path: Path) -> None:
    """A daemon that starts and works tells nobody: only changes are news."""
    with Receiver() as hook:
        news = _news(tmp_path, (f"json://127.0.0.1:{hook.port}/hook",))
        for _ in range(3):
            news.state("working", None)
        news.alerts.close()
        assert hook.requests == []


def test_paused_then_working_sends_paused_then_resumed_once_each(tmp_path: Path) -> None:
    """working -> paused -> working -> unavailable -> working: a message per change, naming
    the folder set, in order; the same state told again (each refresh) sends nothing."""
    with Receiver() as hook:
        news = _news(tmp_path, (f"json://127.0.0.1:{hook.port}/hook",))
        news.state("working", None)
        for _ in range(3):
            news.state("paused", "VOD refused the access keys")
        for _ in range(2):
            news.state("working", None)
        news.state("unavailable", "the share is not there")
        news.state("working", None)
        news.alerts.close()
    assert _told(hook) == ["vodwatch: uploads from News desk are paused",
                           "vodwatch: News desk works again",
                           "vodwatch: News desk is not available",
                           "vodwatch: News desk works again"]
    assert "VOD refused the access keys" in hook.requests[0].body["message"]


def test_a_refresh_with_nothing_new_rewrites_nothing(tmp_path: Path) -> None:
    """The same view twice: the page and this daemon's part keep their inode and mtime; a
    changed view replaces the page."""
    news = _news(tmp_path)
    (news.folder_set.inbox / ".vodwatch").mkdir()
    page = news.folder_set.status_file
    assert page is not None
    news.refresh(_view(), share_ok=True)
    part = next((news.folder_set.inbox / ".vodwatch" / "status").iterdir())

    def stamp() -> list[tuple[int, int]]:
        return [(os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in (page, part)]

    before = stamp()
    time.sleep(0.05)
    for _ in range(3):
        news.refresh(_view(), share_ok=True)
    assert stamp() == before
    news.refresh(_view("paused", "the keys were refused"), share_ok=True)
    assert stamp()[0] != before[0]
    assert "the keys were refused" in page.read_text(encoding="utf-8-sig")


def test_a_delivery_record_that_cannot_be_written_is_logged_once(tmp_path: Path) -> None:
    """done/ refusing the day's CSV is logged once, not at every refresh, and once more when
    the record is written at last."""
    news = _news(tmp_path)
    (news.folder_set.inbox / ".vodwatch").mkdir()
    news.records.record(Delivery(at=time.time(), file=f"{A}.mp4", original=f"{A}.mp4",
                                 asset_id=A, became="video", size=10, md5_hex="00" * 16,
                                 request_id="req-1", folder="News desk"), write_now=False)
    done = news.folder_set.done
    with capture_logs() as logs, read_only(done):
        for _ in range(4):
            news.refresh(_view(), share_ok=True)
    refused = [e for e in logs if e["event"] == "delivery_record.not_written"]
    assert len(refused) == 1 and refused[0]["log_level"] == "warning", logs
    assert "Read-only" in refused[0]["error"]
    assert os.listdir(done) == []
    with capture_logs() as logs:
        for _ in range(2):
            news.refresh(_view(), share_ok=True)
    assert [e["event"] for e in logs if e["event"].startswith("delivery_record")] == [
        "delivery_record.written"]
    assert [n for n in os.listdir(done) if n.endswith(".csv")]


def test_files_of_a_recursive_inbox_are_named_by_their_path() -> None:
    """Two files of one name in two sub-folders are two lines, each with its folder; a file
    outside the inbox (never expected) keeps its bare name."""
    inbox = Path("/share/inbox")
    pending = {inbox / "Episode 12" / f"{A}.mp4": _pending(),
               inbox / "Episode 13" / f"{A}.mp4": _pending(settled=False),
               inbox / f"{B}.mp4": _pending(), Path("/elsewhere") / f"{C}.mp4": _pending()}
    shown = view(state="working", why=None, pending=pending, jobs=[], not_handled={},
                 recent=[], inbox=inbox)
    assert sorted(f["name"] for f in shown["files"]) == sorted(
        [f"Episode 12/{A}.mp4", f"Episode 13/{A}.mp4", f"{B}.mp4", f"{C}.mp4"])

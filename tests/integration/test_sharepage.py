"""The share's status page on real files: atomic, only rewritten on news, shared by daemons."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from vodwatch.sharepage import BOM, SharePage
from vodwatch.sharepage_render import DASH

BERLIN = ZoneInfo("Europe/Berlin")
T = 1714738000.0  # 2024-05-03 14:06:40 CEST
FOOTER = "This page is rewritten by the upload service; changes made to it are lost.\n"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def view(state: str = "working", at: float = T, **more: Any) -> dict[str, Any]:
    return {"state": state, "why": None, "files": [], "not_handled": {}, "recent": [],
            "updated_at": at, **more}


def sharepage(root: Path, daemon_id: str = "host-a", clock: Clock | None = None,
              **kwargs: Any) -> SharePage:
    (root / ".vodwatch").mkdir(exist_ok=True)  # the inbox's hidden folder: the daemon makes it
    return SharePage(root / "STATUS.txt", root / ".vodwatch" / "page-parts", daemon_id,
                     folder_label="News", clock=clock or Clock(), tz=BERLIN, **kwargs)


def text(page: SharePage) -> str:
    data = page.page.read_bytes()
    assert data.startswith(BOM.encode())
    return data.decode("utf-8")[1:]


def test_update_writes_part_and_page_with_bom_and_lf(tmp_path: Path) -> None:
    """The first update writes this daemon's part and a UTF-8 page with BOM and LF lines."""
    page = sharepage(tmp_path)
    assert page.update(view(files=[{"name": "clip.mp4", "state": "copying", "size": 3}]))
    assert page.last_error is None
    body = text(page)
    assert body.startswith(f"Upload status {DASH} News {DASH} updated 14:06:40 CEST")
    assert "\r" not in body and body.endswith(FOOTER)
    assert "clip.mp4 (3 bytes): still being copied" in body
    part = json.loads((tmp_path / ".vodwatch" / "page-parts" / "host-a.json").read_text())
    assert part["daemon_id"] == "host-a" and part["files"][0]["name"] == "clip.mp4"
    assert sorted(os.listdir(tmp_path)) == [".vodwatch", "STATUS.txt"]  # no temp file left


def test_identical_update_rewrites_nothing(tmp_path: Path) -> None:
    """A second identical update leaves page and part untouched: same inode, same mtime."""
    clock = Clock()
    page = sharepage(tmp_path, clock=clock)
    page.update(view())
    part_path = page.parts_dir / "host-a.json"
    before = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (page.page, part_path)]
    clock.now += 10
    assert page.update(view()) is False
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (page.page, part_path)] == before
    assert page.last_error is None


def test_news_rewrites_the_page(tmp_path: Path) -> None:
    """A changed view rewrites the page with the new news."""
    page = sharepage(tmp_path)
    page.update(view())
    assert page.update(view(state="paused", why="the keys are refused", at=T + 1))
    assert "Paused: the keys are refused." in text(page)


def test_heartbeat_refreshes_the_part_but_not_the_page(tmp_path: Path) -> None:
    """An idle daemon keeps its part alive without rewriting the page editors read."""
    clock = Clock()
    page = sharepage(tmp_path, clock=clock)
    page.update(view())
    part_path = page.parts_dir / "host-a.json"
    page_ino = page.page.stat().st_ino
    clock.now += 200  # past stale_after: only a fresh alive_at keeps it working
    assert page.update(view()) is False
    assert json.loads(part_path.read_text())["alive_at"] == T + 200
    assert page.page.stat().st_ino == page_ino
    assert "Working:" in text(page)


def test_stopped_says_stopped_at(tmp_path: Path) -> None:
    """stopped() marks the part stopped with the time and the page says so."""
    clock = Clock()
    page = sharepage(tmp_path, clock=clock)
    page.update(view(files=[{"name": "clip.mp4", "state": "uploading", "size": 1}]))
    clock.now = T + 600
    page.stopped()
    assert page.last_error is None
    body = text(page)
    assert "Stopped at 14:16: files dropped here wait" in body
    assert "clip.mp4 (1 byte): paused" in body
    part = json.loads((page.parts_dir / "host-a.json").read_text())
    assert part["state"] == "stopped" and part["stopped_at"] == T + 600


def test_two_daemons_each_write_their_own_part_and_both_show(tmp_path: Path) -> None:
    """Two daemons on one page: each keeps its own part; the page merges both."""
    a = sharepage(tmp_path, "host-a")
    b = sharepage(tmp_path, "host-b")
    a.update(view(files=[{"name": "a.mp4", "state": "uploading", "percent": 5, "size": 1}]))
    b.update(view(files=[{"name": "b.mp4", "state": "queued", "position": 1, "size": 1}]))
    assert sorted(os.listdir(a.parts_dir)) == ["host-a.json", "host-b.json"]
    body = text(a)
    assert "Working: files dropped here are uploaded." in body
    assert "a.mp4 (1 byte): uploading 5 %" in body and "b.mp4 (1 byte): queued" in body
    assert a.update(view(files=[])) is True  # a's news changes; b's file stays on the page
    assert "a.mp4" not in text(a) and "b.mp4 (1 byte): queued" in text(a)


def test_a_silent_daemon_is_taken_for_stopped(tmp_path: Path) -> None:
    """A daemon that stopped updating is stale: the other daemon's state is shown."""
    b_clock = Clock()
    b = sharepage(tmp_path, "host-b", clock=b_clock)
    b.update(view())
    a = sharepage(tmp_path, "host-a", clock=Clock(T + 300))
    a.update(view(state="unavailable", why="the share refuses writes", at=T + 300))
    assert "Not available: the share refuses writes." in text(a)
    a.stopped()
    assert "Stopped at 14:11:" in text(a)


def test_page_in_a_missing_folder_fails_softly_and_creates_nothing(tmp_path: Path) -> None:
    """A page whose folder is missing: update returns False, says why, creates nothing."""
    missing = tmp_path / "unmounted"
    page = SharePage(missing / "STATUS.txt", missing / "parts", "host-a",
                     folder_label="News", clock=Clock(), tz=BERLIN)
    assert page.update(view()) is False
    assert page.last_error is not None and "does not exist" in page.last_error
    page.stopped()
    assert not missing.exists()
    missing.mkdir()
    assert page.update(view()) is True
    assert page.last_error is None


def test_a_share_without_its_hidden_folder_gets_no_folder_and_no_page(tmp_path: Path) -> None:
    """The page's folder is there but not the inbox's hidden folder (an empty mount point):
    nothing is created, neither the inbox, nor the parts, nor the page; once the daemon has
    made the hidden folder again, the page is written."""
    mount = tmp_path / "share"
    mount.mkdir()
    page = SharePage(mount / "inbox status.txt", mount / "inbox" / ".vodwatch" / "status",
                     "host-a", folder_label="News", clock=Clock(), tz=BERLIN)
    assert page.update(view()) is False
    assert page.last_error is not None and "hidden folder" in page.last_error
    page.stopped()
    assert os.listdir(mount) == []
    (mount / "inbox" / ".vodwatch").mkdir(parents=True)
    assert page.update(view()) is True
    assert sorted(os.listdir(mount)) == ["inbox", "inbox status.txt"]


def test_unwritable_parts_location_fails_softly(tmp_path: Path) -> None:
    """A parts folder that cannot be made (a file in the way) is an error, not a crash."""
    (tmp_path / "blocker").write_text("x")
    page = SharePage(tmp_path / "STATUS.txt", tmp_path / "blocker" / "parts", "host-a",
                     folder_label="News", clock=Clock(), tz=BERLIN)
    assert page.update(view()) is False
    assert page.last_error and "could not write the status page" in page.last_error


def test_reader_never_sees_a_partial_or_empty_page(tmp_path: Path) -> None:
    """A reader looping on the page during 200 updates always reads a whole page."""
    clock = Clock()
    page = sharepage(tmp_path, clock=clock)
    page.update(view())
    stop = threading.Event()
    seen: list[int] = []
    bad: list[bytes] = []

    def read() -> None:
        while not stop.is_set():
            data = page.page.read_bytes()
            seen.append(len(data))
            body = data.decode("utf-8")
            if not (body.startswith(BOM + "Upload status") and body.endswith(FOOTER)):
                bad.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(200):
            clock.now = T + n
            files = [{"name": f"clip{i}.mp4", "state": "queued", "position": i, "size": i}
                     for i in range(1, n % 37 + 2)]
            assert page.update(view(at=T + n, files=files)) is True
    finally:
        stop.set()
        reader.join()
    assert not bad and seen
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]

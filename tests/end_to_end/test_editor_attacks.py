"""Hostile pass on what editors see: the status page beside the inbox, the delivery
record in done/, names vodwatch gives (and takes back), error files and notifications.

Every test runs the real CLI and daemon against the emulator, on real folders, with
real HTTP receivers for notifications.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import bind, log_lines
from tests.mounts import is_mount, tmpfs, umount
from tests.receiver import Receiver

WRONG_SK = "a-wrong-secret-key-000000000000"


# ---- helpers ---------------------------------------------------------------------------------


def _page(setup: Setup) -> Path:
    return setup.inbox.parent / f"{setup.inbox.name} status.txt"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, IsADirectoryError):
        return ""


def _read_page(setup: Setup) -> str:
    return _read(_page(setup))


def _folder(setup: Setup, **extra: Any) -> dict[str, Any]:
    return {"inbox": str(setup.inbox), "done": str(setup.done), "failed": str(setup.failed),
            **extra}


def _wait_page(setup: Setup, predicate, timeout: float, what: str, page: Path | None = None
               ) -> str:
    path = page or _page(setup)
    try:
        return wait_for(lambda: (t := _read(path)) and predicate(t) and t, timeout, 0.1, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the page says:\n{_read(path)}") from None


def _section(text: str, start: str, end: str | None = None) -> str:
    part = text.split(start, 1)[1] if start in text else ""
    return part.split(end, 1)[0] if end and end in part else part


def _asset_starting_with(prefix: str, start: int) -> str:
    n = start
    while not asset_id(n).startswith(prefix):
        n += 1
    return asset_id(n)


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def _all_delivery_rows(setup: Setup) -> list[list[str]]:
    rows: list[list[str]] = []
    for record in sorted(setup.done.glob("deliveries *.csv")):
        if record.is_file():
            rows += _csv_rows(record)[1:]
    return rows


# ---- where the page may be -------------------------------------------------------------------


@pytest.mark.parametrize("where", ["inbox", "done", "failed"])
def test_a_status_file_inside_an_editor_folder_is_refused(setup: Setup, where: str) -> None:
    """A status_file inside inbox, done or failed is refused (exit 2) with a message naming
    the key, and nothing is written there."""
    folder = getattr(setup, where)
    setup.write_config(folders=[_folder(setup, status_file=str(folder / "status.txt"))])
    result = setup.cli("once", timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out[-2000:]
    assert "status_file" in out and where in out
    assert not (folder / "status.txt").exists()


def test_a_status_file_reaching_into_the_inbox_through_a_symlink_is_kept_out(
        setup: Setup, daemon_factory) -> None:
    """A status_file whose folder is a symbolic link to the inbox is still inside the inbox:
    refused, or at least never written there and never taken for an editor's file."""
    link = setup.root / "share-view"
    link.symlink_to(setup.inbox)
    setup.write_config(folders=[_folder(setup, status_file=str(link / "status.txt"))])
    checked = setup.cli("check", timeout=60)
    if checked.returncode == 2:
        assert "status_file" in checked.stdout + checked.stderr
        return
    aid = asset_id(9001)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    daemon = daemon_factory()
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 2000)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done")
    time.sleep(4)
    assert daemon.stop() == 0
    assert "status.txt" not in os.listdir(setup.inbox)
    assert not [n for n in os.listdir(setup.failed) if "status" in n], os.listdir(setup.failed)


def test_two_folder_sets_never_share_one_page(setup: Setup, daemon_factory) -> None:
    """Two folder sets configured with the same status_file are refused, or the page shows
    both folder sets' files: neither overwrites the other's news."""
    other = setup.root / "other"
    for d in ("inbox", "done", "failed"):
        (other / d).mkdir(parents=True)
    page = setup.root / "status.txt"
    setup.write_config(folders=[
        _folder(setup, name="one", status_file=str(page)),
        {"inbox": str(other / "inbox"), "done": str(other / "done"),
         "failed": str(other / "failed"), "name": "two", "status_file": str(page)}])
    checked = setup.cli("check", timeout=60)
    if checked.returncode == 2:
        assert "status_file" in checked.stdout + checked.stderr
        return
    (setup.inbox / "Episode one").mkdir()
    (other / "inbox" / "Episode two").mkdir()
    daemon = daemon_factory()
    try:
        _wait_page(setup, lambda t: "Episode one" in t and "Episode two" in t, 15,
                   "one page naming both folder sets' folders", page)
    finally:
        daemon.stop()


def test_a_page_inside_another_folder_sets_inbox_is_never_picked_up(
        setup: Setup, daemon_factory) -> None:
    """A folder set's page placed in another folder set's inbox is refused, or at least is
    never handled as an editor's file."""
    other = setup.root / "other"
    for d in ("inbox", "done", "failed"):
        (other / d).mkdir(parents=True)
    setup.write_config(folders=[
        _folder(setup, name="one"),
        {"inbox": str(other / "inbox"), "done": str(other / "done"),
         "failed": str(other / "failed"), "name": "two",
         "status_file": str(setup.inbox / "two status.txt")}])
    checked = setup.cli("check", timeout=60)
    if checked.returncode == 2:
        assert "status_file" in checked.stdout + checked.stderr
        return
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    time.sleep(5)
    assert daemon.stop() == 0
    assert setup.names(setup.failed) == []


def test_an_empty_status_file_means_no_page_at_all(setup: Setup, daemon_factory) -> None:
    """status_file "" turns the page off: no page beside the inbox or anywhere on the share,
    while files are still delivered and recorded."""
    aid = asset_id(9010)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    setup.write_config(folders=[_folder(setup, status_file="")])
    before = set(os.listdir(setup.root))
    daemon = daemon_factory()
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 2000)
    write_bytes(setup.inbox / "not a video.doc", 20)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done")
    wait_for(lambda: (setup.failed / "not a video.doc").exists(), 30, what="failed")
    time.sleep(3)  # more than one refresh of the page
    assert daemon.stop() == 0
    new = set(os.listdir(setup.root)) - before - {"daemon.log", "state"}
    assert new == set(), new
    everywhere = [p for p in setup.root.rglob("*status*") if "state" not in p.parts]
    assert everywhere == [], everywhere
    assert wait_for(lambda: list(setup.done.glob("deliveries *.csv")), 10, what="the record")


def test_the_page_being_a_folder_never_stops_uploads(setup: Setup, daemon_factory) -> None:
    """When the page cannot be written (a folder took its name), files are still delivered
    and the daemon says why in its log."""
    aid = asset_id(9015)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    _page(setup).mkdir()
    daemon = daemon_factory()
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 2000)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done")
    wait_for(lambda: "status_page.not_written" in daemon.output(), 15, what="the warning")
    assert daemon.stop() == 0


# ---- several daemons -------------------------------------------------------------------------


def test_two_daemons_share_the_page_and_neither_overwrites_the_others_news(
        setup: Setup, daemon_factory) -> None:
    """Two daemons on one share (own state_dir each) show their uploads side by side on one
    page, both daemons' deliveries are listed, each writes its own record; a stopped daemon's
    part says stopped and the page says "Stopped at" only when both have stopped."""
    setup.write_config(upload={"workers": 1}, claims={"lease_seconds": 3})
    cfg_a = setup.root / "a.yaml"
    shutil.copy(setup.config_path, cfg_a)
    setup.write_config(state_dir=str(setup.root / "state-b"), upload={"workers": 1},
                       claims={"lease_seconds": 3})
    cfg_b = setup.root / "b.yaml"
    shutil.copy(setup.config_path, cfg_b)
    setup.emulator.add_fault("slow", "obs_put", count=None, delay=3)
    a = daemon_factory(name="a", config=cfg_a)
    b = daemon_factory(name="b", config=cfg_b)
    wait_for(lambda: "daemon.ready" in a.output() and "daemon.ready" in b.output(), 20,
             what="both ready")
    aids = [asset_id(9020 + n) for n in range(4)]
    for aid in aids:
        setup.emulator.seed_asset(aid, "PUBLISHED")
        write_bytes(setup.inbox / f"{aid}.cover.jpg", 3000)
    both = _wait_page(setup, lambda t: t.count(": uploading") >= 2, 30,
                      "two uploads at once, one per daemon")
    names = [f"{aid}.cover.jpg" for aid in aids]
    wait_for(lambda: all((setup.done / n).exists() for n in names), 60, what="all done")
    latest = _wait_page(setup, lambda t: all(n in _section(t, "Latest results") for n in names),
                        15, "all four deliveries in the latest results")
    assert "Working" in latest
    records = wait_for(lambda: len(list(setup.done.glob("deliveries *.csv"))) == 2 and
                       len(_all_delivery_rows(setup)) == 4, 15, what="two records, four rows")
    assert records
    assert sorted(r[1] for r in _all_delivery_rows(setup)) == sorted(names)
    assert a.stop() == 0
    parts_dir = setup.inbox / ".vodwatch" / "status"
    parts = [json.loads(p.read_text()) for p in parts_dir.glob("*.json")]
    assert sorted(p.get("state") for p in parts) == ["stopped", "working"], parts
    time.sleep(2.5)
    assert "Stopped at" not in _read_page(setup), "one daemon still works"
    assert b.stop() == 0
    assert "Stopped at" in _read_page(setup)
    assert len(both) > 0


# ---- the share away ----------------------------------------------------------------------------


def test_an_unmounted_share_gets_no_inbox_and_no_page(setup: Setup, daemon_factory) -> None:
    """When the share under the inbox is unmounted, vodwatch never creates the inbox (nor any
    folder) in the empty mount point, and never writes the page there."""
    share = setup.root / "share"
    with tmpfs(share, "16m"):
        inbox, done, failed = share / "inbox", share / "done", share / "failed"
        for d in (inbox, done, failed):
            d.mkdir()
        setup.write_config(rescan_seconds=30, folders=[
            {"inbox": str(inbox), "done": str(done), "failed": str(failed),
             "watch": "events"}])
        aid = asset_id(9030)
        setup.emulator.seed_asset(aid, "PUBLISHED")
        daemon = daemon_factory()
        write_bytes(inbox / f"{aid}.cover.jpg", 2000)
        wait_for(lambda: (done / f"{aid}.cover.jpg").exists(), 30, what="done")
        wait_for(lambda: (share / "inbox status.txt").exists(), 10, what="the page")
        umount(share)
        assert not is_mount(share)
        time.sleep(5)  # two heartbeats of the page
        left = sorted(os.listdir(share))
        daemon.stop()
    assert left == [], f"written into the empty mount point: {left}"


def test_a_renamed_inbox_is_never_recreated(setup: Setup, daemon_factory) -> None:
    """An inbox renamed away (polling notices at once) is waited for: vodwatch creates no
    inbox and no page inside a missing folder; when it is back, uploads carry on."""
    setup.write_config(folders=[_folder(setup, watch="polling")])
    aid = asset_id(9035)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    daemon = daemon_factory()
    wait_for(lambda: _page(setup).exists(), 20, what="the page")
    away = setup.root / "inbox-away"
    os.rename(setup.inbox, away)
    try:
        wait_for(lambda: "folder.unavailable" in daemon.output(), 30, what="the outage")
        time.sleep(4.5)
        assert not setup.inbox.exists(), sorted(os.listdir(setup.inbox))
    finally:
        if setup.inbox.exists():
            shutil.rmtree(setup.inbox)
        os.rename(away, setup.inbox)
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 2000)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done after return")
    assert daemon.stop() == 0


def test_the_page_says_not_available_when_done_is_read_only(setup: Setup,
                                                            daemon_factory) -> None:
    """With done/ read-only (the inbox and the page's folder fine) the page says the folder
    set is not available and why, within seconds; it says Working again when fixed."""
    aid = asset_id(9040)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    daemon = daemon_factory()
    _wait_page(setup, lambda t: "Working" in t, 20, "the page")
    with bind(setup.done, setup.done, read_only=True):
        write_bytes(setup.inbox / f"{aid}.cover.jpg", 2000)
        wait_for(lambda: "folder.unavailable" in daemon.output(), 30, what="the outage")
        try:
            text = _wait_page(setup, lambda t: "Not available" in t, 10,
                              "the page saying not available")
        finally:
            shown = _read_page(setup)
        assert "Working" not in text, shown
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done when fixed")
    _wait_page(setup, lambda t: "Working" in t, 15, "working again")
    assert daemon.stop() == 0


# ---- names that attack what people read --------------------------------------------------------

EVIL = [
    "clear\x1b[2J\x1b]0;owned\x07 screen.mp4",
    "invoice\u202egpj.exe",
    "line one\n  forged.mp4: Delivered to asset 0.doc",
    "=HYPERLINK(\"evil.example\",\"x\").doc",
    "tab\there\rcr\x85nel\u2028ls.doc",
]
RAW = ["\x1b", "\x07", "\u202e", "\r", "\x85", "\u2028", "\t"]


def test_control_characters_in_names_are_escaped_on_the_page_in_error_files_and_messages(
        setup: Setup, daemon_factory) -> None:
    """Names with terminal escapes, a right-to-left override, line breaks, tabs and a formula
    show escaped on the page, in error files and in notifications: no forged line."""
    with Receiver() as hook:
        setup.write_config(folders=[_folder(setup, notify=[hook.url()])])
        daemon = daemon_factory()
        wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
        for name in EVIL:
            (setup.inbox / name).write_bytes(b"not a video")
        wait_for(lambda: all((setup.failed / n).exists() for n in EVIL), 30, what="failed")
        text = _wait_page(setup, lambda t: t.count("FAILED") >= len(EVIL), 15,
                          "every failure on the page")
        assert daemon.stop() == 0
        messages = wait_for(lambda: [r.body for r in hook.requests
                                     if "failed" in str(r.body.get("title", ""))], 10,
                            what="the grouped failure message at stop")
    for raw in RAW:
        assert raw not in text, f"{raw!r} on the page"
    assert not [line for line in text.splitlines() if line.startswith("  forged.mp4")]
    assert "\\x1b" in text and "\\u202e" in text
    for name in EVIL:
        error = [p for p in setup.failed.iterdir() if p.name.startswith(name[:4])
                 and p.name.endswith(".error.txt")]
        assert len(error) == 1, (name, os.listdir(setup.failed))
        content = error[0].read_text(encoding="utf-8")
        for raw in [*RAW, "\n  forged"]:
            assert raw not in content, (raw, content)
        editor_part = content.split("---- For the operator ----")[0]
        assert "vodwatch " not in editor_part, "no command for the editor"
    body = json.dumps(messages)
    for raw in RAW:
        assert raw not in "".join(m.get("message", "") + m.get("title", "") for m in messages), \
            (raw, body)


def test_a_255_byte_failed_name_points_the_page_at_its_real_error_file(
        setup: Setup, daemon_factory) -> None:
    """Names of 255 bytes (ASCII and two-byte letters) fail with a shortened error file, and
    the page names exactly that error file."""
    names = ["x" * 251 + ".doc", "\u00e9" * 125 + ".doc"]
    assert all(len(os.fsencode(n)) <= 255 for n in names)
    daemon = daemon_factory()
    for name in names:
        (setup.inbox / name).write_bytes(b"0123")
    wait_for(lambda: all((setup.failed / n).exists() for n in names), 30, what="failed")
    text = _wait_page(setup, lambda t: t.count("FAILED") >= 2, 15, "both failures")
    assert daemon.stop() == 0
    pointed = [line.split("see failed/", 1)[1].rsplit(".error.txt", 1)[0] + ".error.txt"
               for line in text.splitlines() if "see failed/" in line]
    assert len(pointed) == 2
    for error_name in pointed:
        assert (setup.failed / error_name).is_file(), (error_name, os.listdir(setup.failed))


def test_the_page_points_a_renamed_failure_at_its_own_error_file(setup: Setup,
                                                                 daemon_factory) -> None:
    """A second failure of the same name is kept as `notes (2).doc`: the page's latest result
    points at `failed/notes (2).doc.error.txt`, not at the first failure's error file."""
    daemon = daemon_factory()
    (setup.inbox / "notes.doc").write_bytes(b"first")
    wait_for(lambda: (setup.failed / "notes.doc").exists(), 30, what="first failure")
    (setup.inbox / "notes.doc").write_bytes(b"second")
    wait_for(lambda: (setup.failed / "notes (2).doc").exists(), 30, what="second failure")
    text = _wait_page(setup, lambda t: t.count("FAILED") >= 2, 15, "both failures")
    assert daemon.stop() == 0
    newest = next(line for line in _section(text, "Latest results").splitlines()
                  if "FAILED" in line)
    assert "see failed/notes (2).doc.error.txt" in newest, newest


def test_spreadsheet_formulas_never_reach_the_delivery_record(setup: Setup,
                                                              daemon_factory) -> None:
    """A folder set named like a formula is written to the CSV as text (leading apostrophe),
    and the record opens as one header plus one row per delivery, a 125-byte copy name whole."""
    aid = asset_id(9050)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    formula = "=HYPERLINK(\"http://evil.example\",\"open\")"
    setup.write_config(folders=[_folder(setup, name=formula)])
    long_name = f"{aid}.1.en" + " (2)" * 21 + ".srt"
    assert len(os.fsencode(long_name)) == 125
    daemon = daemon_factory()
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 2000)
    write_bytes(setup.inbox / long_name, 300)
    wait_for(lambda: len(_all_delivery_rows(setup)) == 2, 30, what="two rows in the record")
    records = list(setup.done.glob("deliveries *.csv"))
    assert daemon.stop() == 0
    rows = _csv_rows(records[0])
    assert len(rows) == 3, rows
    assert sorted(r[1] for r in rows[1:]) == sorted([f"{aid}.cover.jpg", long_name])
    for row in rows[1:]:
        for value in row:
            assert not value.lstrip(" ").startswith(("=", "+", "-", "@")), row
    assert rows[1][7] == "'" + formula


# ---- the delivery record cannot be written -----------------------------------------------------


def test_a_blocked_delivery_record_never_holds_a_file_back_and_is_written_later(
        setup: Setup, daemon_factory) -> None:
    """With the day's CSV blocked (a folder in its place) the file still reaches done/; the
    record is kept, survives a restart, and is written once the CSV can be written."""
    setup.state.mkdir(mode=0o700)
    (setup.state / "daemon-id").write_text("test-host-k1\n")
    aid = asset_id(9060)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    today = date.today().isoformat()
    blocked = setup.done / f"deliveries {today} test-host-k1.csv"
    blocked.mkdir()
    (blocked / "keep").write_text("x")
    daemon = daemon_factory()
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 2000)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done")
    time.sleep(3)
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0
    shutil.rmtree(blocked)
    again = daemon_factory(name="again")
    record = wait_for(lambda: blocked.is_file() and blocked, 20, what="the record, later")
    rows = _csv_rows(record)
    assert [r for r in rows[1:] if r[1] == f"{aid}.cover.jpg" and r[2] == aid], rows
    time.sleep(2.5)
    assert again.stop() == 0
    assert len(_csv_rows(blocked)) == 2, "written once"
    assert not [n for n in os.listdir(setup.done) if n.endswith(".tmp")]


# ---- names vodwatch gives, and copies --------------------------------------------------------


def _error_files_match_files(failed: Path) -> None:
    """Each file in failed/ has exactly one error file, and no error file is an orphan."""
    names = [n for n in os.listdir(failed) if not n.startswith(".")]
    files = sorted(n for n in names if not n.endswith(".error.txt"))
    errors = sorted(n for n in names if n.endswith(".error.txt"))
    assert errors == sorted(f"{n}.error.txt" for n in files), names


def test_a_failed_file_moved_back_by_hand_again_and_again_is_accepted_each_time(
        setup: Setup, daemon_factory) -> None:
    """A file that keeps failing and is moved back by hand each time fails under its own
    name again: its old error file (left behind by the move) is replaced, never an orphan
    reserving the name; its copies (`(2)`) come back too; once the asset is fixed it reaches
    done/ with its bytes in VOD, and no error file about it is left."""
    aid = asset_id(9070)
    setup.emulator.seed_asset(aid, "PUBLISHED")  # a video is refused in this state
    daemon = daemon_factory()
    name, copy = f"{aid}.mp4", f"{aid} (2).mp4"
    write_bytes(setup.inbox / name, 3000)
    for moved in (name, name, copy):
        if moved == copy:  # a second file of that name fails beside the first: ` (2)`
            write_bytes(setup.inbox / name, 3100)
            wait_for(lambda: (setup.failed / f"{copy}.error.txt").exists(), 30, what=copy)
        here, back, old = (setup.failed / moved, setup.inbox / moved,
                           setup.failed / f"{moved}.error.txt")
        wait_for(old.exists, 30, what=moved)
        _error_files_match_files(setup.failed)
        old.write_text(old.read_text() + "(the old explanation)\n")
        shutil.move(str(here), str(back))
        wait_for(lambda: not back.exists(), 30, what="taken")  # noqa: B023
        wait_for(here.exists, 30, what=f"{moved} failed again")
        wait_for(lambda: "(the old explanation)" not in _read(old), 30,  # noqa: B023
                 what="the old error file replaced by a new one")
        time.sleep(0.5)
        _error_files_match_files(setup.failed)
    assert sorted(setup.names(setup.failed)) == sorted(
        [name, f"{name}.error.txt", copy, f"{copy}.error.txt"])
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    shutil.move(str(setup.failed / copy), str(setup.inbox / copy))
    wait_for(lambda: (setup.done / copy).exists(), 30, what="done at last")
    time.sleep(0.5)
    assert daemon.stop() == 0
    assert setup.emulator.read_object(aid, "video") == (setup.done / copy).read_bytes()
    _error_files_match_files(setup.failed)
    assert sorted(setup.names(setup.failed)) == [name, f"{name}.error.txt"]


def test_no_stale_error_file_is_left_once_a_file_moved_back_by_hand_is_delivered(
        setup: Setup, daemon_factory) -> None:
    """After a file failed twice, was moved back by hand each time and is finally delivered,
    failed/ holds no error file about it."""
    aid = asset_id(9075)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    daemon = daemon_factory()
    write_bytes(setup.inbox / f"{aid}.mp4", 3000)
    wait_for(lambda: (setup.failed / f"{aid}.mp4").exists(), 30, what="first failure")
    shutil.move(str(setup.failed / f"{aid}.mp4"), str(setup.inbox / f"{aid}.mp4"))
    second = wait_for(lambda: [n for n in setup.names(setup.failed)
                               if not n.endswith(".error.txt")], 30, what="second failure")
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    shutil.move(str(setup.failed / second[0]), str(setup.inbox / second[0]))
    wait_for(lambda: (setup.done / second[0]).exists(), 30, what="delivered")
    time.sleep(1)
    assert daemon.stop() == 0
    assert setup.names(setup.failed) == []


def test_stacked_copy_markers_are_accepted_and_titles_are_not_cut(setup: Setup) -> None:
    """`<id> (2) - Copy.mp4` and `<id>.cover copy 2.jpg` are the asset's files; `Episode
    12.mp4` is not cut to an asset name: it fails with an explanation about its name."""
    aid = asset_id(9080)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    good = [f"{aid} (2) - Copy.mp4", f"{aid}.cover copy 2.jpg"]
    for name in good:
        write_bytes(setup.inbox / name, 4000)
    write_bytes(setup.inbox / "Episode 12.mp4", 4000)
    result = setup.cli("once")
    assert result.returncode == 1, result.stdout[-3000:]
    assert sorted(n for n in setup.names(setup.done) if not n.endswith(".csv")) == sorted(good)
    assert setup.emulator.read_object(aid, "video") == (setup.done / good[0]).read_bytes()
    assert sorted(setup.names(setup.failed)) == ["Episode 12.mp4", "Episode 12.mp4.error.txt"]
    editor = (setup.failed / "Episode 12.mp4.error.txt").read_text().split("----")[0]
    assert "name" in editor.lower() and "Accepted names" in editor


def test_a_long_name_vodwatch_shortens_is_still_accepted_back(setup: Setup) -> None:
    """A name vodwatch shortens to add ` (2)` (255 bytes) is still accepted back as it is."""
    aid = asset_id(9085)  # unknown to VOD: the first two attempts fail
    name = aid + " (2)" * 54 + ".mp4"
    assert len(os.fsencode(name)) == 252
    for _ in range(2):
        write_bytes(setup.inbox / name, 3000)
        assert setup.cli("once").returncode == 1
    given = [n for n in setup.names(setup.failed) if n != name and not n.endswith(".txt")]
    assert len(given) == 1, setup.names(setup.failed)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    shutil.move(str(setup.failed / given[0]), str(setup.inbox / given[0]))
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout[-2000:]
    assert (setup.done / given[0]).exists()


def test_an_accepted_name_longer_than_vod_takes_is_still_delivered(setup: Setup) -> None:
    """A copy name the rules accept (`<id> (2) (2)... .mp4`, 136 bytes) is delivered, and
    the cover sent in the same request never fails because of the video's name."""
    aid = asset_id(9087)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    video = aid + " (2)" * 25 + ".mp4"
    assert len(os.fsencode(video)) == 136
    write_bytes(setup.inbox / video, 3000)
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 2000)
    result = setup.cli("once")
    assert setup.names(setup.failed) == [], result.stdout[-1500:]
    assert (setup.done / video).exists() and (setup.done / f"{aid}.cover.jpg").exists()


def test_retry_all_leaves_no_stale_error_file(setup: Setup) -> None:
    """`vodwatch retry --all` moves every failed file back and leaves no error file in
    failed/, also none whose file was moved back by hand before."""
    for name in ("a.doc", "b.doc"):
        (setup.inbox / name).write_bytes(b"x")
    assert setup.cli("once").returncode == 1
    assert sorted(setup.names(setup.failed)) == ["a.doc", "a.doc.error.txt", "b.doc",
                                                 "b.doc.error.txt"]
    shutil.move(str(setup.failed / "a.doc"), str(setup.inbox / "a.doc"))  # by hand
    result = setup.cli("retry", "--all")
    assert result.returncode == 0, result.stderr
    assert sorted(setup.names(setup.inbox)) == ["a.doc", "b.doc"]
    assert setup.names(setup.failed) == []


# ---- notifications ---------------------------------------------------------------------------


def test_a_hanging_notification_target_never_delays_uploads_or_the_stop(
        setup: Setup, daemon_factory) -> None:
    """A target that accepts the connection and never answers delays no delivery, and the
    daemon still stops promptly on SIGTERM."""
    with Receiver(delay=40) as hang:
        setup.write_config(folders=[_folder(setup, notify=[hang.url()],
                                            notify_deliveries=True)])
        daemon = daemon_factory()
        wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
        for n in range(3):
            aid = asset_id(9090 + n)
            setup.emulator.seed_asset(aid, "PUBLISHED")
            started = time.monotonic()
            write_bytes(setup.inbox / f"{aid}.cover.jpg", 2000)
            wait_for(lambda a=aid: (setup.done / f"{a}.cover.jpg").exists(), 15,
                     what=f"delivery {n} while the target hangs")
            assert time.monotonic() - started < 12
        hang.wait(1, timeout=10)
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(30) == 0
        assert time.monotonic() - started < 15


def test_a_notify_url_token_never_appears_in_logs_status_page_or_errors(
        setup: Setup, daemon_factory) -> None:
    """The password, path token and query token of a notify URL never appear in the log,
    `status`, `status --json`, `check --online`, the page, the records or error files."""
    secrets = ["Pa55-word-xyz", "T0KEN0123456789abcdef", "Z9secretvalue42"]
    with Receiver(status=500) as hook:
        url = (f"json://hookuser:{secrets[0]}@127.0.0.1:{hook.port}/hooks/{secrets[1]}"
               f"?key={secrets[2]}")
        setup.write_config(folders=[_folder(setup, notify=[url], notify_deliveries=True)])
        aid = asset_id(9095)
        setup.emulator.seed_asset(aid, "PUBLISHED")
        daemon = daemon_factory()
        write_bytes(setup.inbox / f"{aid}.cover.jpg", 2000)
        (setup.inbox / "wrong.doc").write_bytes(b"x")
        wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done")
        wait_for(lambda: "notification not sent" in daemon.output(), 30, what="send failures")
        assert secrets[1] in hook.requests[0].path, "the URL works"
        outputs = [setup.cli("status").stdout, setup.cli("status", "--json").stdout]
        online = setup.cli("check", "--online")
        outputs.append(online.stdout + online.stderr)
        time.sleep(2.5)
        assert daemon.stop() == 0
    outputs.append(daemon.output())
    outputs.append(_read_page(setup))
    outputs += [p.read_text(errors="replace") for p in setup.failed.glob("*.error.txt")]
    outputs += [p.read_text(errors="replace") for p in setup.done.glob("*.csv")]
    outputs += [p.read_text(errors="replace") for p in
                (setup.inbox / ".vodwatch").rglob("*") if p.is_file()]
    for text in outputs:
        for secret in secrets:
            assert secret not in text, (secret, text[:3000])
    assert any("json://127.0.0.1" in text for text in outputs), "the target is still named"


def test_a_bad_notify_url_is_refused_without_quoting_its_token(setup: Setup) -> None:
    """A notify URL vodwatch cannot use is refused (exit 2) naming the key, and the message
    does not repeat the token inside the URL."""
    token = "T0KENabc123456def7890"
    setup.write_config(folders=[_folder(setup, notify=[f"slack://{token}/B0KEN999/C0KEN111"])])
    result = setup.cli("check", timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert "notify" in out
    assert token not in out and "B0KEN999" not in out


# ---- what the page says about each file -------------------------------------------------------


def test_queued_positions_on_the_page_are_the_order_files_are_sent(setup: Setup,
                                                                  daemon_factory) -> None:
    """With one worker busy, the page's "queued (Nth in line)" is the order in which the
    waiting files are then sent (names in upper case too)."""
    setup.write_config(upload={"workers": 1})
    setup.emulator.add_fault("slow", "obs_put", count=1, delay=8)  # the first upload
    blocker = _asset_starting_with("0", 9100)
    lower_b = _asset_starting_with("b", 9100)
    upper_c = _asset_starting_with("c", 9100)
    lower_d = _asset_starting_with("d", 9100)
    names = {blocker: f"{blocker}.cover.jpg", lower_b: f"{lower_b}.cover.jpg",
             upper_c: f"{upper_c.upper()}.cover.jpg", lower_d: f"{lower_d}.cover.jpg"}
    for aid in names:
        setup.emulator.seed_asset(aid, "PUBLISHED")
    daemon = daemon_factory()
    write_bytes(setup.inbox / names[blocker], 2000)
    _wait_page(setup, lambda t: f"{names[blocker]} (2.0 kB): uploading" in t, 20,
               "the first upload under way")
    for aid in (lower_b, upper_c, lower_d):
        write_bytes(setup.inbox / names[aid], 2000)
    text = _wait_page(setup, lambda t: "3rd in line" in t, 20, "three queued files")
    shown: dict[int, str] = {}
    for line in text.splitlines():
        for n, words in ((1, "next in line"), (2, "2nd in line"), (3, "3rd in line")):
            if words in line:
                shown[n] = line.strip().split(" (", 1)[0]
    wait_for(lambda: all((setup.done / n).exists() for n in names.values()), 60, what="done")
    assert daemon.stop() == 0
    sent = [r.body["asset_id"] for r in setup.emulator.requests
            if r.operation == "update_asset" and r.status == 200]
    assert sent[0] == blocker
    assert [names[a] for a in sent[1:]] == [shown[1], shown[2], shown[3]], (sent, shown)


def test_the_page_says_waiting_to_try_again_and_why_while_vod_answers_503(
        setup: Setup, daemon_factory) -> None:
    """While VOD answers 503 the file's line says "waiting to try again" with a reason; the
    file is delivered once VOD is back, and never fails."""
    setup.write_config(retry={"base_seconds": 4, "cap_seconds": 6, "jitter": 0.1})
    aid = asset_id(9110)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    setup.emulator.add_fault("status", "update_asset", count=None, status=503)
    name = f"{aid}.cover.jpg"
    daemon = daemon_factory()
    write_bytes(setup.inbox / name, 2000)
    text = _wait_page(setup, lambda t: f"{name} (2.0 kB): waiting to try again" in t, 30,
                      "the waiting line")
    line = next(x for x in text.splitlines() if name in x and "waiting" in x)
    reason = line.split("waiting to try again", 1)[1]
    assert ":" in reason and len(reason.split(":", 1)[1].strip()) > 5, line
    setup.emulator.clear_faults()
    wait_for(lambda: (setup.done / name).exists(), 30, what="done once VOD is back")
    assert daemon.stop() == 0
    assert setup.names(setup.failed) == []


def test_the_page_says_paused_and_why_with_wrong_credentials(setup: Setup,
                                                             daemon_factory) -> None:
    """Rejected credentials: the page says uploads are paused and why, the file is listed as
    paused, no file fails, and the secret key appears nowhere on the page."""
    aid = asset_id(9120)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    name = f"{aid}.mp4"
    write_bytes(setup.inbox / name, 10_000)
    daemon = daemon_factory(HUAWEICLOUD_SDK_SK=WRONG_SK)
    wait_for(lambda: "folder.paused" in daemon.output(), 30, what="the pause")
    text = _wait_page(setup, lambda t: "Paused" in t and f"{name} (10.0 kB): paused" in t, 15,
                      "the page saying paused")
    state = text.split("Files in the inbox")[0]
    assert "Paused:" in state and len(state.split("Paused:", 1)[1].strip()) > 5, state
    assert WRONG_SK not in text and "Signature=" not in text
    time.sleep(1)
    assert daemon.stop() == 0
    assert setup.names(setup.failed) == []
    assert not [r for r in log_lines(daemon.output()) if WRONG_SK in json.dumps(r)]


def test_wrong_credentials_notify_a_pause_naming_the_folder_set(setup: Setup,
                                                                daemon_factory) -> None:
    """Rejected credentials: the webhook receives one "paused" message naming the folder set
    and saying why, without the secret key; nothing says it works again meanwhile."""
    aid = asset_id(9130)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    with Receiver() as hook:
        setup.write_config(folders=[_folder(setup, name="News desk",
                                            notify=[f"json://127.0.0.1:{hook.port}/hook"])])
        write_bytes(setup.inbox / f"{aid}.mp4", 10_000)
        daemon = daemon_factory(HUAWEICLOUD_SDK_SK=WRONG_SK)
        wait_for(lambda: [r for r in hook.requests if "paused" in str(r.body.get("title", ""))],
                 30, what="the pause told")
        time.sleep(3)  # every refresh repeats the state: it is told once
        assert daemon.stop() == 0
    paused = [r for r in hook.requests if "paused" in str(r.body.get("title", ""))]
    assert len(paused) == 1, hook.requests
    assert paused[0].body["title"] == "vodwatch: uploads from News desk are paused"
    message = paused[0].body["message"]
    assert message.startswith("Uploads from News desk are paused: ") and len(message) > 40
    assert not [r for r in hook.requests if "works again" in str(r.body.get("title", ""))]
    assert WRONG_SK not in json.dumps([r.body for r in hook.requests])


def test_a_file_that_cannot_be_moved_says_where_it_is_going(setup: Setup,
                                                            daemon_factory) -> None:
    """A failed file that cannot be moved yet (held by a bind mount over itself, as a file
    an editor has open) is never called delivered: `status` says it waits to move to
    failed/ and the page says it failed; a delivered one beside it says delivered. Both
    move once released."""
    bad, good = asset_id(9140), asset_id(9141)
    setup.emulator.seed_asset(bad, "PUBLISHED")  # a new video is refused: the file fails
    setup.emulator.seed_asset(good, "PUBLISHED")  # a cover is accepted
    failing, delivered = f"{bad}.mp4", f"{good}.cover.jpg"
    write_bytes(setup.inbox / failing, 3000)
    write_bytes(setup.inbox / delivered, 3000)
    with bind(setup.inbox / failing, setup.inbox / failing, read_only=True), \
            bind(setup.inbox / delivered, setup.inbox / delivered, read_only=True):
        daemon = daemon_factory()
        page = _wait_page(setup, lambda t: "failed, being moved to failed" in t
                          and "delivered, being moved to done" in t, 30,
                          "both files waiting to move")
        assert f"{failing} (3.0 kB): failed, being moved to failed" in page, page
        assert f"{delivered} (3.0 kB): delivered, being moved to done" in page, page
        seen: list[str] = []

        def status_says_both() -> bool:
            seen.append(setup.cli("status").stdout)
            lines = seen[-1].splitlines()
            return any(failing in line and "failed, waiting to move to failed/" in line
                       for line in lines) and any(
                delivered in line and "delivered, waiting to move" in line for line in lines)

        wait_for(status_says_both, 30, what="status saying where each file goes")
        assert not [line for text in seen for line in text.splitlines()
                    if failing in line and "delivered" in line], seen
    wait_for(lambda: (setup.failed / f"{failing}.error.txt").exists(), 30, what="failed/ at last")
    wait_for(lambda: (setup.done / delivered).exists(), 30, what="done/ at last")
    assert daemon.stop() == 0
    assert (setup.failed / failing).exists() and not (setup.inbox / failing).exists()

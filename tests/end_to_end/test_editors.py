"""The share talks to editors: the status page, delivery records, names that go back,
stale error files, sub-folders and notifications, end to end with `vodwatch run`."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import signal
import threading
import time
import urllib.request
from pathlib import Path

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import free_port, make_big, ops, parts_sent
from tests.receiver import Receiver

MB = 1_000_000


def _page(setup: Setup) -> Path:
    return setup.inbox.parent / f"{setup.inbox.name} status.txt"


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def _read_page(setup: Setup) -> str:
    try:
        return _page(setup).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return ""


def test_the_status_page_shows_an_upload_with_its_percentage_then_stopped(
        setup: Setup, daemon_factory) -> None:
    """During a slowed multipart upload the page beside the inbox names the file with a
    percentage; after SIGTERM it says when vodwatch stopped."""
    aid = asset_id(700)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 1})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
    name = f"{aid}.mp4"
    make_big(setup.inbox / name, 21 * MB)
    daemon = daemon_factory()
    wait_for(lambda: len(parts_sent(setup)) >= 3, 60, what="the upload under way")
    text = wait_for(lambda: (t := _read_page(setup)) and name in t and "%" in t and t, 20,
                    what="the page naming the upload")
    assert "uploading" in text
    assert not list(setup.inbox.glob("*status*")), "the page is never inside the inbox"
    daemon.signal(signal.SIGTERM)
    assert daemon.proc.wait(30) == 0
    assert "Stopped at" in _read_page(setup)


def test_a_reader_never_sees_a_half_written_page(setup: Setup, daemon_factory) -> None:
    """The page is replaced atomically: a reader looping on it never sees it partial."""
    seen: list[str] = []
    stop = threading.Event()

    def read() -> None:  # the page exists all along: a missing or empty read is a failure
        while not stop.is_set():
            try:
                data = _page(setup).read_bytes()
            except OSError as exc:
                data = repr(exc).encode()
            seen.append(data.decode("utf-8-sig", "replace"))

    daemon = daemon_factory()
    wait_for(lambda: _page(setup).exists(), 20, what="the page")
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(12):
            write_bytes(setup.inbox / f"{asset_id(710 + n)}.oops", 10)
            time.sleep(0.2)
        wait_for(lambda: len(list(setup.failed.glob("*.oops"))) == 12, 60, what="failures")
        time.sleep(2.5)
    finally:
        stop.set()
        reader.join()
    assert daemon.stop() == 0
    assert len(seen) > 10
    whole = [t for t in seen if t.startswith("Upload status")
             and t.rstrip().endswith("changes made to it are lost.")]
    assert len(whole) == len(seen), "every read saw a whole page"


def test_a_dropped_file_is_on_the_page_within_5_s_and_an_idle_page_is_left_alone(
        setup: Setup, daemon_factory) -> None:
    """A file dropped into the inbox is named on the page within 5 seconds; once nothing
    happens, the page is not rewritten (same inode and modification time for 6 s)."""
    aid = asset_id(715)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    daemon = daemon_factory()
    wait_for(lambda: "Working" in _read_page(setup), 20, what="the page")
    name = f"{aid}.cover.jpg"
    write_bytes(setup.inbox / name, 4000)
    dropped = time.monotonic()
    wait_for(lambda: name in _read_page(setup), 5, interval=0.05, what="the file on the page")
    assert time.monotonic() - dropped <= 5
    wait_for(lambda: (setup.done / name).exists(), 30, what="delivered")
    wait_for(lambda: name in _read_page(setup).split("Latest results")[-1]
             and name not in _read_page(setup).split("Latest results")[0], 10,
             what="the page saying it was delivered")
    time.sleep(3)  # the last refreshes after the delivery
    before = os.stat(_page(setup))
    time.sleep(6)
    after = os.stat(_page(setup))
    assert daemon.stop() == 0
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_delivery_record_names_the_file_and_the_asset(setup: Setup, daemon_factory) -> None:
    """After done/, done/ holds a CSV record an editor opens, naming the file and asset, with
    the file's size, its MD5 and the request ID VOD answered when it was sent."""
    aid = asset_id(720)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    data = write_bytes(setup.inbox / f"{aid}.cover.jpg", 5000)
    daemon = daemon_factory()
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done")
    records = wait_for(lambda: list(setup.done.glob("deliveries *.csv")), 20, what="record")
    assert daemon.stop() == 0
    assert f"{aid}.cover.jpg" not in _read_page(setup).split("Latest results")[0], (
        "the page's last word does not list a delivered file as waiting")
    rows = list(csv.reader(io.StringIO(records[0].read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["Time", "File", "Asset ID", "Became", "Size", "MD5", "VOD request ID",
                       "Folder"]
    (row,) = [r for r in rows[1:] if r[1] == f"{aid}.cover.jpg"]
    assert (row[2], row[3]) == (aid, "cover")
    assert row[4] == "5000" and row[5] == hashlib.md5(data).hexdigest()
    answered = [r.request_id for r in ops(setup, "update_asset") if r.status == 200]
    assert row[6] and row[6] in answered, (row, answered)


def test_a_renamed_failed_copy_moved_back_by_hand_reaches_done(setup: Setup,
                                                             daemon_factory) -> None:
    """A second failure is renamed `<id> (2).mp4`; moved back with plain mv it is accepted,
    reaches done/, and no error file about it is left."""
    aid = asset_id(730)
    setup.emulator.seed_asset(aid, "PUBLISHED")  # not updatable: the video fails
    name = f"{aid}.mp4"
    daemon = daemon_factory()
    for _ in range(2):
        write_bytes(setup.inbox / name, 1000)
        wait_for(lambda: not (setup.inbox / name).exists(), 30, what="taken")
        time.sleep(0.5)
    copy = wait_for(lambda: (p := setup.failed / f"{aid} (2).mp4").exists() and p, 30,
                    what="the renamed copy")
    assert (setup.failed / f"{aid} (2).mp4.error.txt").exists()
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    shutil.move(str(copy), str(setup.inbox / copy.name))  # by hand; the error file stays
    wait_for(lambda: (setup.done / copy.name).exists(), 30, what="done")
    assert daemon.stop() == 0
    assert not (setup.failed / f"{aid} (2).mp4.error.txt").exists()


def test_os_copy_markers_are_accepted(setup: Setup, daemon_factory) -> None:
    """Windows, macOS and browser copy markers before the extension are the same slot."""
    aid = asset_id(740)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    names = [f"{aid}.cover - Copy.jpg", f"{aid}.1.en (1).srt", f"{aid}.2.fr copy.srt"]
    for n in names:
        write_bytes(setup.inbox / n, 300)
    daemon = daemon_factory()
    wait_for(lambda: all((setup.done / n).exists() for n in names), 60, what="all done")
    assert daemon.stop() == 0
    assert setup.names(setup.failed) == []


def test_a_sub_folder_is_named_on_the_status_page(setup: Setup, daemon_factory) -> None:
    """A folder dropped into a non-recursive inbox is not silent: the page says so."""
    (setup.inbox / "Episode 12").mkdir()
    daemon = daemon_factory()
    text = wait_for(lambda: (t := _read_page(setup)) and "Episode 12" in t and t, 20,
                    what="the page naming the folder")
    (line,) = [line for line in text.splitlines() if "Episode 12" in line]
    assert "does not look inside folders" in line, text
    assert "move the files themselves into the inbox" in line.lower(), text
    assert daemon.stop() == 0


def test_a_recursive_inbox_lists_a_dropped_folders_files_by_their_path(
        setup: Setup, daemon_factory) -> None:
    """With `recursive: true` files in dropped folders are on the page by their path, as
    `Episode 12/<file>` (two files of one name in two folders stay two lines, never merged
    into one bare name), then they are delivered."""
    aid = asset_id(750)
    setup.emulator.seed_asset(aid, "PUBLISHED")  # covers are accepted
    setup.write_config(folders=[{"inbox": str(setup.inbox), "done": str(setup.done),
                                 "failed": str(setup.failed), "recursive": True}])
    setup.emulator.add_fault("slow", "obs_put", count=None, delay=3)
    name = f"{aid}.cover.jpg"
    daemon = daemon_factory()
    wait_for(lambda: "Working" in _read_page(setup), 20, what="the page")
    for folder in ("Episode 12", "Episode 13"):
        (setup.inbox / folder).mkdir()
        write_bytes(setup.inbox / folder / name, 3000)
    text = wait_for(lambda: (t := _read_page(setup)) and f"Episode 12/{name}" in t
                    and f"Episode 13/{name}" in t and t, 20, what="both files by their path")
    files = text.split("Files in the inbox")[1].split("Latest results")[0]
    assert f"  {name} (" not in files, text  # never the bare name
    assert "does not look inside folders" not in text, text  # handled, not refused
    wait_for(lambda: len([n for n in setup.names(setup.done) if n.endswith(".jpg")]) == 2, 60,
             what="both delivered")
    assert daemon.stop() == 0
    assert not (setup.inbox / "Episode 12" / name).exists()
    assert setup.names(setup.failed) == []


def test_failures_are_notified_grouped_and_a_failing_target_does_not_delay(
        setup: Setup, daemon_factory) -> None:
    """Three failures in a minute arrive as one message at a local webhook; a second target
    that refuses everything does not delay the files, is retried, and once it has refused
    every attempt `status` and /metrics count the message it did not get."""
    port = free_port()
    with Receiver() as good, Receiver(status=500) as bad:
        setup.write_config(folders=[{
            "inbox": str(setup.inbox), "done": str(setup.done), "failed": str(setup.failed),
            "notify": [f"json://127.0.0.1:{good.port}/hook",
                       f"json://127.0.0.1:{bad.port}/hook"]}],
            metrics={"address": f"127.0.0.1:{port}"})
        daemon = daemon_factory()
        wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
        started = time.monotonic()
        for n in range(3):
            (setup.inbox / f"not-a-video-{n}.doc").write_text("x")
        wait_for(lambda: len(list(setup.failed.glob("*.doc"))) == 3, 30, what="failed")
        assert time.monotonic() - started < 15
        messages = wait_for(lambda: [r for r in good.requests if "failed" in
                                     str(r.body.get("title", ""))], 90, what="the message")
        wait_for(lambda: len(bad.requests) >= 2, 30, what="the failing target retried")
        status = wait_for(lambda: (t := setup.cli("status").stdout)
                          and "notifications not delivered: 1" in t and t, 40,
                          what="status counting the message not delivered")
        assert f"127.0.0.1:{bad.port}" not in status  # a target's URL is never shown
        metrics = _scrape(port)
        failures = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                    if line.startswith("vodwatch_notification_failures{")]
        assert failures and max(failures) > 0, metrics
        assert daemon.stop() == 0
        assert len(messages) == 1
        body = messages[0].body["message"]
        assert all(f"not-a-video-{n}.doc" in body for n in range(3))
        assert os.environ.get("VODWATCH_CONFIG") is None

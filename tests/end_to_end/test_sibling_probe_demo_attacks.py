"""Hostile tests: files of one asset dropped together, the share's write probe, job log
lines with hostile names, and the demo's scratch folder.

Real subprocesses, real folders, real tmpfs mounts (root), the emulator over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import ROOT, Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import log_lines, ops, status_json, visible
from tests.mounts import fill, tmpfs
from vodwatch.share_faults import PROBE_BYTES, probe_write

VODWATCH = Path(sys.executable).parent / "vodwatch"


def _leave_free(share: Path, free: int) -> None:
    """Fill ``share`` to the last byte, then give back about ``free`` bytes."""
    fill(share / "filler")
    os.truncate(share / "filler", os.path.getsize(share / "filler") - free)
    st = os.statvfs(share)
    assert 0 < st.f_bavail * st.f_frsize < PROBE_BYTES, st


def _updates(setup: Setup, aid: str) -> list[dict]:
    return [r.body for r in ops(setup, "update_asset")
            if r.body and r.body.get("asset_id") == aid and r.status == 200]


# ---- the write probe on a share with a little room left -------------------------------

def test_probe_refuses_a_share_with_less_room_than_it_writes(tmp_path: Path) -> None:
    """Less than 64 KiB free: write() takes what fits and says nothing; the probe must not
    call that share usable (nor leave its file behind)."""
    with tmpfs(tmp_path / "share", "1m") as share:
        _leave_free(share, 20 * 1024)
        try:
            probe_write(share)
        except OSError as exc:
            assert exc.filename == str(share)
        else:
            raise AssertionError("a share with 20 KiB left passed the 64 KiB probe")
        assert sorted(p.name for p in share.iterdir()) == ["filler"]


def test_nearly_full_share_is_unavailable_in_status_then_carries_on(
        setup: Setup, daemon_factory) -> None:
    """56 KiB left on the share (room for a small cover, not for the probe): the folder set
    is unavailable, the file stays in the inbox; space freed, it is delivered once."""
    with tmpfs(setup.root / "share", "1m") as share:
        inbox, done, failed = share / "inbox", share / "done", share / "failed"
        for d in (inbox, done, failed):
            d.mkdir()
        setup.write_config(folders=[{"inbox": str(inbox), "done": str(done),
                                     "failed": str(failed), "watch": "polling"}])
        aid = asset_id(9100)
        setup.emulator.seed_asset(aid, "PUBLISHED")
        _leave_free(share, 56 * 1024)  # room for leases and markers, not for the probe
        name = f"{aid}.cover.jpg"
        write_bytes(inbox / name, 2000)
        daemon = daemon_factory()
        wait_for(lambda: "folder.unavailable" in daemon.output(), 30, what="the outage")
        assert any("full" in x.get("reason", "") for x in log_lines(daemon.output())
                   if x.get("event") == "folder.unavailable")
        wait_for(lambda: status_json(setup)["folders"][0]["available"] is False, 10,
                 interval=0.5, what="status to see the outage")
        assert visible(inbox) == {name} and not _updates(setup, aid)
        (share / "filler").unlink()
        wait_for(lambda: name in visible(done), 30, what="the file once space is back")
        assert daemon.stop() == 0
        assert len(_updates(setup, aid)) == 1
        leftovers = [p.name for d in (done, failed) for p in d.iterdir()
                     if p.name.startswith(".vodwatch-probe")]
        assert leftovers == []


# ---- files of one asset dropped together ----------------------------------------------

def _keep_writing(path: Path, until: float) -> threading.Thread:
    def grow() -> None:
        with open(path, "ab") as fh:
            while time.monotonic() < until:
                fh.write(b"v" * 4096)
                fh.flush()
                time.sleep(0.1)
    thread = threading.Thread(target=grow, daemon=True)
    thread.start()
    return thread


def test_a_sibling_still_being_written_holds_the_group_one_window_only(
        setup: Setup, daemon_factory) -> None:
    """A cover and a subtitle settle while the video is still being copied: they wait at
    most one settle window, go together in one UpdateAsset, and the video follows alone;
    nothing is sent twice."""
    setup.write_config(settle_seconds=1.0)
    aid = asset_id(9110)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")  # takes a new video
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="the daemon to start")
    video = setup.inbox / f"{aid}.mp4"
    copying_until = time.monotonic() + 8
    writer = _keep_writing(video, copying_until)
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 3000)
    write_bytes(setup.inbox / f"{aid}.1.en.srt", 300)
    wait_for(lambda: _updates(setup, aid), 7, what="the cover and subtitle, not waiting")
    assert time.monotonic() < copying_until, "the cover waited for the video's copy"
    first = _updates(setup, aid)
    assert len(first) == 1 and "cover_md5" in first[0] and len(first[0]["subtitles"]) == 1
    assert "video_md5" not in first[0]
    writer.join()
    wait_for(lambda: f"{aid}.mp4" in visible(setup.done), 30, what="the video")
    assert daemon.stop() == 0
    bodies = _updates(setup, aid)
    assert len(bodies) == 2 and "video_md5" in bodies[1], bodies
    assert visible(setup.done) == {f"{aid}.mp4", f"{aid}.cover.jpg", f"{aid}.1.en.srt"}


def test_title_waits_for_a_sibling_then_goes_when_that_sibling_is_deleted(
        setup: Setup, daemon_factory) -> None:
    """Create mode: a title's video is ready while its cover is still being written; the
    cover is then deleted (the editor gave up): the video must not wait forever."""
    setup.write_config(settle_seconds=0.5, folders=[{
        "inbox": str(setup.inbox), "done": str(setup.done), "failed": str(setup.failed),
        "create_assets": True}])
    daemon = daemon_factory()
    write_bytes(setup.inbox / "Lighthouse.mp4", 5000)
    cover = setup.inbox / "Lighthouse.cover.jpg"
    writer = _keep_writing(cover, time.monotonic() + 3)
    time.sleep(2)
    assert setup.emulator.assets_created() == []  # the title waits for its cover
    writer.join()
    cover.unlink()
    wait_for(lambda: "Lighthouse.mp4" in visible(setup.done), 30, what="the video alone")
    assert daemon.stop() == 0
    assert len(setup.emulator.assets_created()) == 1


# ---- the demo's scratch folder --------------------------------------------------------

def test_demo_dir_that_is_a_file_is_refused_cleanly(tmp_path: Path) -> None:
    """`.demo` is a file (someone's notes): a one-line refusal, exit 2, the file intact."""
    notes = tmp_path / ".demo"
    notes.write_text("my notes")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VODWATCH_", "HUAWEI"))}
    done = subprocess.run([str(VODWATCH), "demo", "--dir", str(notes)], cwd=ROOT, env=env,
                          text=True, capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert str(notes) in done.stderr
    assert notes.read_text() == "my notes"


# ---- every line of a job names its folder set and its files ---------------------------

def test_hostile_names_keep_one_json_object_per_line_with_journald_priority(
        setup: Setup, daemon_factory) -> None:
    """Names with a newline, quotes, control characters, bytes that are not UTF-8, 250
    characters, and a job of many files: every line stays one JSON object behind its
    journald priority; every warning or error about a file names it and the folder set;
    a field has one type on every line (log tools index by name) and no empty value."""
    aid = asset_id(9120)
    setup.emulator.seed_asset(aid, "PUBLISHED")  # refuses a video: failure lines
    inbox = os.fsencode(setup.inbox)
    names = [b'bad\nname "quoted".mp4', b"ctl\x07\x1b[31m.mp4", b"latin1-\xe9t\xe9.mp4",
             b"x" * 246 + b".mp4", os.fsencode(f"{aid}.mp4")]
    names += [os.fsencode(f"{aid}.{n}.en.srt") for n in range(1, 13)]
    for name in names:
        with open(os.path.join(inbox, name), "wb") as fh:
            fh.write(b"data")
    log_path = setup.root / "daemon.log"  # the daemon's stdout (appended to): the journal
    log_path.touch()
    st = os.stat(log_path)
    daemon = daemon_factory(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    wait_for(lambda: len(visible(setup.failed)) >= 5 and not visible(setup.inbox), 60,
             what="every file handled")
    assert daemon.stop() == 0
    raw = daemon.log_path.read_bytes().decode("utf-8")  # all of it is valid UTF-8
    types: dict[str, set[str]] = {}
    for line in raw.splitlines():
        prio, sep, rest = line.partition(">")
        assert line.startswith("<") and sep and prio[1:].isdigit(), line[:200]
        record = __import__("json").loads(rest)
        for key, value in record.items():
            assert value not in ("", None, "None", []), (key, record)
            types.setdefault(key, set()).add(type(value).__name__)
        if record.get("level") in ("warning", "error") and record.get("job_id"):
            assert record.get("folder"), record
            assert record.get("file") or record.get("files"), record
    mixed = {key: found for key, found in types.items() if len(found) > 1}
    assert not mixed, mixed


def test_probe_files_left_by_a_killed_daemon_are_removed_never_sent(
        setup: Setup, daemon_factory) -> None:
    """kill -9 during the probe's fsync leaves 64 KiB named `.vodwatch-probe-<pid>` in
    done/ and failed/ (a dot-name is not hidden on a Windows share): the next daemon
    removes old ones, leaves a fresh one (another daemon's, in use) and sends none."""
    old = time.time() - 3600
    for folder in (setup.done, setup.failed, setup.inbox):
        stale = folder / ".vodwatch-probe-4242"
        stale.write_bytes(b"\0" * PROBE_BYTES)
        os.utime(stale, (old, old))
        (folder / ".vodwatch-probe-4343").write_bytes(b"\0" * PROBE_BYTES)
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="the daemon to start")
    wait_for(lambda: not (setup.failed / ".vodwatch-probe-4242").exists(), 10,
             what="the stale probe removed")
    time.sleep(1)
    assert daemon.stop() == 0
    for folder in (setup.done, setup.failed):
        assert sorted(p.name for p in folder.glob(".vodwatch-probe-*")) == [
            ".vodwatch-probe-4343"]
    assert not ops(setup, "update_asset") and not setup.emulator.assets_created()

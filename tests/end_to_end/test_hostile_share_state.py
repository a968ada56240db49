"""Hostile attacks through the real CLI: `run` waiting for its state disk (a second
run, a replaced folder, status, systemd), uploads cancelled in VOD, files of a job that
vanish, a take-over after a confirm that never took effect, and a mount point holding a
note."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import (
    MB,
    NotifyListener,
    bind,
    file_md5,
    log_lines,
    make_big,
    ops,
    parts_sent,
    visible,
)
from tests.end_to_end.test_share_trust_more import _legacy_job, _share_on_bind_mount
from tests.mounts import fill, full_tmpfs, read_only, tmpfs
from vodwatch.claim import marker_name


def test_status_says_a_fresh_state_dir_is_full_while_run_waits(setup: Setup,
                                                              daemon_factory) -> None:
    """A first `run` waiting for a full state disk has no journal yet: `status` says the
    folder is full, not that vodwatch has not run and should be started."""
    with full_tmpfs(setup.state, size="1m"):
        daemon = daemon_factory()
        wait_for(lambda: "state.unavailable" in daemon.output(), 30, what="the wait")
        text = setup.cli("status")
        data = json.loads(setup.cli("status", "--json").stdout)
    assert text.returncode == 1
    assert f"{setup.state} is full" in text.stdout, text.stdout
    assert "start it with" not in text.stdout
    assert any(f"{setup.state} is full" in p for p in data["problems"]), data


def test_a_second_run_while_the_first_waits_is_refused_at_once(setup: Setup,
                                                              daemon_factory) -> None:
    """`run` waiting for a full state disk already owns its state_dir: a second `run` on
    it is refused at once (exit 2) instead of waiting beside it and racing it for the
    folder once space is freed; the first then starts and delivers."""
    with full_tmpfs(setup.state, size="1m"):
        first = daemon_factory(name="first")
        wait_for(lambda: "state.unavailable" in first.output(), 30, what="the first wait")
        second = daemon_factory(name="second")
        try:
            code = second.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 2, second.output()
        assert "already uses state_dir" in second.output()
        assert first.proc.poll() is None
        aid = asset_id(915)
        setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
        write_bytes(setup.inbox / f"{aid}.mp4", 50_000)
        os.remove(setup.state / "filler")
        wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="the delivery")
        holder = json.loads((setup.state / "lock").read_text())
        assert holder["pid"] == first.proc.pid
        assert first.stop() == 0


def test_a_run_waiting_for_a_read_only_state_dir_keeps_it_from_a_second_one(
        setup: Setup, daemon_factory) -> None:
    """The same on a read-only state disk, where the lock file can only be opened for
    reading: the waiting `run` still holds the lock; writable again, it starts."""
    assert setup.cli("once").returncode == 0  # the state folder and its lock file exist
    with read_only(setup.state):
        first = daemon_factory(name="first")
        wait_for(lambda: "state.unavailable" in first.output(), 30, what="the first wait")
        second = setup.cli("run", timeout=20)
        assert second.returncode == 2, second.stdout + second.stderr
        assert "already uses state_dir" in second.stderr
    aid = asset_id(916)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    write_bytes(setup.inbox / f"{aid}.mp4", 50_000)
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="the delivery")
    assert json.loads((setup.state / "lock").read_text())["pid"] == first.proc.pid
    assert first.stop() == 0


def test_a_state_dir_replaced_during_the_wait_still_admits_one_run(
        setup: Setup, daemon_factory) -> None:
    """While `run` waits for a full disk, the state folder is removed and made again (a
    new lock file): once space is freed, `run` locks the file that is there, so a second
    `run` is still refused."""
    disk = setup.root / "disk"
    with tmpfs(disk, "8m"):
        state = disk / "state"
        setup.write_config(state_dir=str(state))
        assert setup.cli("once").returncode == 0
        fill(disk / "filler")
        first = daemon_factory(name="first")
        wait_for(lambda: "state.unavailable" in first.output(), 30, what="the wait")
        shutil.rmtree(state)
        state.mkdir(mode=0o700)
        os.remove(disk / "filler")
        wait_for(lambda: "daemon.ready" in first.output(), 30, what="the start")
        second = setup.cli("run", timeout=20)
        assert second.returncode == 2, second.stdout + second.stderr
        assert "already uses state_dir" in second.stderr
        assert first.stop() == 0


def test_a_wait_that_turns_read_only_then_a_reload_then_freed_starts(setup: Setup,
                                                                    daemon_factory) -> None:
    """Full, then remounted read-only while `run` waits: the new reason is told once; a
    SIGHUP meanwhile neither stops nor breaks it; writable again, it starts and delivers."""
    with full_tmpfs(setup.state, size="8m"):
        daemon = daemon_factory()
        wait_for(lambda: "state.unavailable" in daemon.output(), 30, what="the wait")
        subprocess.run(["mount", "-o", "remount,ro", str(setup.state)], check=True)
        wait_for(lambda: "read-only" in daemon.output(), 30, what="the read-only reason")
        daemon.signal(signal.SIGHUP)
        aid = asset_id(903)
        setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
        write_bytes(setup.inbox / f"{aid}.mp4", 50_000)
        time.sleep(1)
        assert daemon.proc.poll() is None, daemon.output()
        subprocess.run(["mount", "-o", "remount,rw", str(setup.state)], check=True)
        os.remove(setup.state / "filler")
        wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="the delivery")
        assert daemon.stop() == 0
    events = [e.get("event") for e in log_lines(daemon.output())]
    assert events.count("state.unavailable") == 2  # full, then read-only: each said once
    assert "Traceback" not in daemon.output()


def test_an_upload_cancelled_every_time_ends_in_failed_with_the_reason(
        setup: Setup, daemon_factory) -> None:
    """Someone cancels the asset's upload in VOD each time vodwatch sends the video: it
    asks again a few times, then the file goes to failed/ saying it was cancelled, and the
    daemon does not ask VOD for new URLs without end."""
    aid = asset_id(904)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.emulator.add_fault("slow", "obs_put", count=None, delay=0.3)
    stop = threading.Event()

    def cancel_every_send() -> None:
        seen = 0
        while not stop.is_set():
            asked = len(ops(setup, "update_asset"))  # new URLs: the slow PUT follows
            if asked > seen:
                seen = asked
                setup.emulator.seed_asset(aid, "CANCELLED")
            time.sleep(0.01)

    canceller = threading.Thread(target=cancel_every_send, daemon=True)
    canceller.start()
    try:
        daemon = daemon_factory()
        write_bytes(setup.inbox / f"{aid}.mp4", 50_000)
        wait_for(lambda: (setup.failed / f"{aid}.mp4").exists(), 90, what="failed/")
    finally:
        stop.set()
        canceller.join(5)
    assert daemon.stop() == 0
    updates = ops(setup, "update_asset")
    assert 2 <= len(updates) <= 7, len(updates)
    reason = (setup.failed / f"{aid}.mp4.error.txt").read_text()
    # Not "VOD does not accept a new video in its state": CANCELLED takes one; what
    # refused it is whoever keeps cancelling, and that is what the words say.
    assert "was cancelled in VOD while the file was being sent" in reason, reason
    assert "does not accept a new video" not in reason
    assert "cancels this asset's upload while vodwatch sends it" in reason
    assert not (setup.done / f"{aid}.mp4").exists()


def test_an_upload_cancelled_while_its_multipart_completes_is_sent_again(
        setup: Setup, daemon_factory) -> None:
    """The upload is cancelled in VOD while the store completes the multipart: the confirm
    is refused, vodwatch asks again, sends the whole video again and delivers it."""
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 2,
                               "multipart_threshold_mb": 1})
    aid = asset_id(905)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.emulator.add_fault("slow", "obs_complete", count=1, delay=1.0)
    daemon = daemon_factory()
    write_bytes(setup.inbox / f"{aid}.mp4", 3 * MB + 5)
    wait_for(lambda: len(parts_sent(setup)) >= 4, 30, what="every part")
    time.sleep(0.3)  # the complete is under way (slow)
    assert not ops(setup, "obs_complete")
    setup.emulator.seed_asset(aid, "CANCELLED")
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists()
             or (setup.failed / f"{aid}.mp4").exists(), 60, what="an outcome")
    assert (setup.done / f"{aid}.mp4").exists(), daemon.output()[-3000:]
    assert daemon.stop() == 0
    assert len(ops(setup, "update_asset")) == 2
    asset = setup.emulator.asset(aid)
    assert asset is not None and asset["status"] == "CREATED", asset
    assert len({upload for upload, _ in parts_sent(setup)}) == 2  # the video went again





def test_status_does_not_call_a_run_waiting_for_its_state_disk_stopped(
        setup: Setup, daemon_factory) -> None:
    """A run that stopped cleanly, the state disk full, and `run` started again: it is
    alive and waiting, so `status` must not say vodwatch is stopped or not running."""
    with tmpfs(setup.state, "8m"):
        os.chmod(setup.state, 0o700)
        first = daemon_factory(name="first")
        wait_for(lambda: "daemon.ready" in first.output(), 30, what="the first start")
        assert first.stop() == 0
        fill(setup.state / "filler")
        waiting = daemon_factory(name="waiting")
        wait_for(lambda: "state.unavailable" in waiting.output(), 30, what="the wait")
        text = setup.cli("status").stdout
        daemon = json.loads(setup.cli("status", "--json").stdout)["daemon"]
        assert waiting.stop() == 0
    assert f"{setup.state} is full" in text
    assert daemon["status"] == "degraded", daemon
    assert daemon["pid"] == waiting.proc.pid, daemon
    assert "stopped" not in text.splitlines()[0], text


def test_a_mount_point_holding_a_note_is_not_taken_for_the_share(setup: Setup,
                                                                 daemon_factory) -> None:
    """The first start of this version (0.1's journal holds a job) while the share is not
    mounted, and the mount point holds a note an administrator left there ("NAS not
    mounted"): no identity is written beside the note, the job is kept, and once the
    share is mounted the hidden file is delivered."""
    backing, mount_point, done = _share_on_bind_mount(setup)
    name = f"{asset_id(912)}.cover.jpg"
    setup.emulator.seed_asset(name[:32], "PUBLISHED")
    legacy = backing / ".vodwatch" / "claims" / "test-host"
    legacy.mkdir(parents=True)
    (legacy / ".lease").write_text("1 1700000000.000\n")
    write_bytes(legacy / f"1.{name}", 1000)
    _legacy_job(setup, mount_point, mount_point / ".vodwatch" / "claims" / "test-host"
                / f"1.{name}", name)
    (mount_point / "NAS-NOT-MOUNTED.txt").write_text("the NAS is mounted here\n")

    daemon = daemon_factory(name="first-start-unmounted")
    wait_for(lambda: "folder.unavailable" in daemon.output()
             or "share.identity_created" in daemon.output(), 30, what="a verdict")
    time.sleep(2)
    assert sorted(os.listdir(mount_point)) == ["NAS-NOT-MOUNTED.txt"], daemon.output()
    with bind(backing, mount_point):
        wait_for(lambda: name in visible(done), 60, what="the file in done/ after the mount")
        assert daemon.stop() == 0


@pytest.mark.parametrize("room_kb", [8, 64])
def test_a_first_start_on_a_nearly_full_state_disk_waits_then_starts(
        setup: Setup, daemon_factory, room_kb: int) -> None:
    """The state disk has room for the write probe but not for a whole new journal: `run`
    does not end with a damaged or unopenable journal; it waits, or starts, and delivers
    once space is freed."""
    with full_tmpfs(setup.state, size="8m"):
        filler = setup.state / "filler"
        os.truncate(filler, filler.stat().st_size - room_kb * 1024)
        daemon = daemon_factory()
        wait_for(lambda: "state.unavailable" in daemon.output()
                 or "daemon.ready" in daemon.output() or daemon.proc.poll() is not None,
                 30, what="a verdict")
        time.sleep(1)
        assert daemon.proc.poll() is None, daemon.output()
        aid = asset_id(913)
        setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
        write_bytes(setup.inbox / f"{aid}.mp4", 50_000)
        time.sleep(1)
        os.remove(filler)
        wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="the delivery")
        assert daemon.stop() == 0


@pytest.mark.parametrize("into", ["nothing", "folder"])
def test_a_claimed_file_replaced_under_the_upload_is_never_sent_or_called_odd(
        setup: Setup, daemon_factory, into: str) -> None:
    """While its video is sent, a job's cover is deleted, or replaced by a folder of the
    same name: the cover is neither sent nor called "not a regular file" in failed/, and
    the video is delivered."""
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 1,
                               "multipart_threshold_mb": 1})
    aid = asset_id(914)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
    video, cover = setup.inbox / f"{aid}.mp4", setup.inbox / f"{aid}.cover.jpg"
    write_bytes(video, 4 * MB)
    write_bytes(cover, 1000)
    daemon = daemon_factory()
    wait_for(lambda: len(parts_sent(setup)) >= 1, 30, what="the video under way")
    cover.unlink()
    if into == "folder":
        cover.mkdir()
    wait_for(lambda: (setup.done / video.name).exists() or (setup.failed / video.name).exists(),
             60, what="the video's outcome")
    time.sleep(2)
    assert daemon.stop(timeout=20) == 0, daemon.output()[-3000:]
    errors = "".join(p.read_text() for p in setup.failed.glob("*.error.txt"))
    assert "not a regular file" not in errors + daemon.output(), errors
    assert not ops(setup, "obs_put"), "the cover was sent"
    assert (setup.done / video.name).exists(), errors


def test_a_take_over_after_a_confirm_that_never_took_effect_delivers_the_file(
        setup: Setup, daemon_factory, tmp_path) -> None:
    """The uploading daemon is killed while its confirm hangs and VOD never carries it
    out (the asset is still uploading, the video in the store): the survivor taking over
    the "confirming" job confirms or sends again and delivers; it neither waits for a
    confirm that will never come nor fails the file."""
    configs = []
    for who in ("alpha", "beta"):
        setup.write_config(state_dir=str(tmp_path / f"state-{who}"),
                           claims={"instance_id": who, "lease_seconds": 3},
                           upload={"part_size_mb": 1, "parallel_parts": 2})
        path = setup.root / f"{who}.yaml"
        os.replace(setup.config_path, path)
        configs.append(path)
    big = asset_id(917)
    setup.emulator.seed_asset(big, "UPLOAD_FAILED")
    name = f"{big}.mp4"
    digest = make_big(setup.inbox / name, 21 * MB)
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.1)
    hang = setup.emulator.add_fault("hang", "confirm", count=1)
    alpha = daemon_factory(name="alpha", config=configs[0])
    beta = daemon_factory(name="beta", config=configs[1])
    owner_file = setup.inbox / ".vodwatch" / "files" / marker_name(name) / "owner"
    owner = wait_for(lambda: owner_file.exists() and owner_file.read_text().split("\n")[0],
                     30, what="the file claimed")
    victim, survivor = (alpha, beta) if owner.startswith("alpha") else (beta, alpha)
    wait_for(lambda: all(f.id != hang for f in setup.emulator.fault_book.pending()), 60,
             interval=0.002, what="the confirm sent")
    victim.kill()
    asset = setup.emulator.asset(big)
    assert asset is not None and asset["status"] not in ("CREATED", "PUBLISHED"), asset
    setup.emulator.clear_faults()
    wait_for(lambda: "claim.taken_over" in survivor.output(), 30, what="the take-over")
    wait_for(lambda: name in visible(setup.done) | visible(setup.failed), 60,
             what="the file moved by the survivor")
    assert survivor.stop() == 0
    assert visible(setup.failed) == set(), (setup.failed / f"{name}.error.txt").read_text()
    assert visible(setup.done) == {name}
    stored = setup.emulator.object_path(big, "video")
    assert stored is not None and file_md5(stored) == digest
    asset = setup.emulator.asset(big)
    assert asset is not None and asset["status"] in ("CREATED", "PUBLISHED"), asset


def test_an_upload_cancelled_once_keeps_the_cover_of_the_job(setup: Setup,
                                                             daemon_factory) -> None:
    """A video and its cover; the upload is cancelled in VOD while the video is sent (the
    cover already in the store): after asking again, VOD holds both files' bytes."""
    aid = asset_id(918)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    video, cover = setup.inbox / f"{aid}.mp4", setup.inbox / f"{aid}.cover.jpg"
    video_bytes = write_bytes(video, 60_000)
    cover_bytes = write_bytes(cover, 3000)
    setup.emulator.add_fault("slow", "obs_put", count=None, delay=0.5)
    cancelled = threading.Event()

    def cancel_once() -> None:
        wait_for(lambda: ops(setup, "update_asset"), 30, interval=0.005, what="URLs")
        time.sleep(0.2)
        setup.emulator.seed_asset(aid, "CANCELLED")
        cancelled.set()

    canceller = threading.Thread(target=cancel_once, daemon=True)
    canceller.start()
    daemon = daemon_factory()
    wait_for(lambda: (setup.done / video.name).exists() or (setup.failed / video.name).exists(),
             60, what="the video's outcome")
    canceller.join(5)
    time.sleep(1)
    assert daemon.stop() == 0
    assert cancelled.is_set()
    assert len(ops(setup, "update_asset")) >= 2, "the cancel landed too late to matter"
    assert {p.name for p in setup.done.iterdir()} >= {video.name, cover.name}
    assert setup.emulator.read_object(aid, "video") == video_bytes
    assert setup.emulator.read_object(aid, "cover") == cover_bytes


def test_systemd_hears_why_and_keeps_a_fed_watchdog_through_the_wait(
        setup: Setup, daemon_factory) -> None:
    """Under systemd with a 2 s watchdog: while `run` waits for its full state disk, the
    STATUS says why and the watchdog is fed with no gap near 2 s; freed, the STATUS moves
    on from the fault."""
    with full_tmpfs(setup.state, size="1m"), \
            NotifyListener(setup.root / "notify.sock") as notify:
        daemon = daemon_factory(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="2000000")
        wait_for(lambda: any("STATE UNAVAILABLE" in s for s in notify.statuses()), 30,
                 what="the STATUS")
        fed: list[float] = []
        deadline = time.monotonic() + 4
        seen = 0
        while time.monotonic() < deadline:
            count = sum("WATCHDOG=1" in m for m in list(notify.messages))
            if count > seen:
                fed.append(time.monotonic())
                seen = count
            time.sleep(0.05)
        assert len(fed) >= 4 and max(b - a for a, b in itertools.pairwise(fed)) < 1.5, fed
        os.remove(setup.state / "filler")
        wait_for(lambda: "daemon.ready" in daemon.output(), 30, what="the start")
        wait_for(lambda: "STATE UNAVAILABLE" not in notify.statuses()[-1], 30,
                 what="a STATUS past the fault")
        assert daemon.stop() == 0

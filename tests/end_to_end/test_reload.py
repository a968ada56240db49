"""SIGHUP applies every setting a reload can apply, to new work at once; a second
SIGTERM leaves at once with status 0."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import make_big, parts_sent
from tests.receiver import Receiver

MB = 1_000_000


def _reload(daemon, setup: Setup, **config) -> None:
    setup.write_config(**config)
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: daemon.output().count("config.reloaded") >= 1, 20, what="the reload")


def test_a_shorter_settle_time_applies_to_a_file_already_waiting(setup: Setup,
                                                               daemon_factory) -> None:
    """A file waiting under a long settle time goes within seconds of the reload."""
    aid = asset_id(900)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    setup.write_config(settle_seconds=600)
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 500)
    time.sleep(2)
    assert not (setup.done / f"{aid}.cover.jpg").exists()
    started = time.monotonic()
    _reload(daemon, setup, settle_seconds=0.5)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 15, what="done")
    assert time.monotonic() - started < 10
    assert daemon.stop() == 0


def test_a_folder_set_added_by_a_reload_is_watched(setup: Setup, daemon_factory,
                                                   tmp_path: Path) -> None:
    """A folder set added to the config starts at the reload; one removed stops."""
    aid = asset_id(901)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    other = tmp_path / "other"
    for name in ("inbox", "done", "failed"):
        (other / name).mkdir(parents=True)
    _reload(daemon, setup, folders=[
        {"inbox": str(setup.inbox), "done": str(setup.done), "failed": str(setup.failed)},
        {"inbox": str(other / "inbox"), "done": str(other / "done"),
         "failed": str(other / "failed")}])
    write_bytes(other / "inbox" / f"{aid}.cover.jpg", 500)
    wait_for(lambda: (other / "done" / f"{aid}.cover.jpg").exists(), 20, what="done there")
    assert "config.folder_added" in daemon.output()
    setup.write_config(folders=[{"inbox": str(other / "inbox"), "done": str(other / "done"),
                                 "failed": str(other / "failed")}])
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "config.folder_removed" in daemon.output(), 20, what="removed")
    write_bytes(setup.inbox / f"{aid}.1.en.srt", 50)
    time.sleep(3)
    assert not (setup.done / f"{aid}.1.en.srt").exists(), "a removed folder set takes no work"
    assert daemon.stop() == 0


def test_log_level_and_notification_targets_apply_at_a_reload(setup: Setup,
                                                             daemon_factory) -> None:
    """Debug lines appear after a reload to level debug; a new webhook gets the failures."""
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    assert '"level": "debug"' not in daemon.output()
    with Receiver() as hook:
        _reload(daemon, setup, log={"format": "json", "level": "debug"}, folders=[{
            "inbox": str(setup.inbox), "done": str(setup.done), "failed": str(setup.failed),
            "notify": [f"json://127.0.0.1:{hook.port}/hook"], "notify_deliveries": True}])
        aid = asset_id(902)
        setup.emulator.seed_asset(aid, "PUBLISHED")
        write_bytes(setup.inbox / f"{aid}.cover.jpg", 500)
        wait_for(lambda: hook.requests, 30, what="a message at the new target")
        assert daemon.stop() == 0
    assert '"level": "debug"' in daemon.output()


def test_part_size_and_bandwidth_apply_to_the_next_upload(setup: Setup,
                                                          daemon_factory) -> None:
    """After a reload to a smaller part size and a bandwidth cap, the next multipart upload
    uses the new part size and takes at least as long as the cap implies."""
    aid = asset_id(903)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 20, "parallel_parts": 1})
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    _reload(daemon, setup, upload={"part_size_mb": 5, "parallel_parts": 1,
                                   "bandwidth_limit_mbps": 80})  # 10 MB/s
    make_big(setup.inbox / f"{aid}.mp4", 30 * MB)
    started = time.monotonic()
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="done")
    assert time.monotonic() - started >= 2.5
    assert len(parts_sent(setup)) >= 6  # 30 MB in 5 MiB parts, not in 20 MiB ones
    assert daemon.stop() == 0


def test_a_second_sigterm_leaves_at_once_with_status_0(setup: Setup, daemon_factory) -> None:
    """The first SIGTERM waits for in-flight parts; a second one leaves at once, status 0."""
    aid = asset_id(904)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(shutdown_grace_seconds=60, upload={"part_size_mb": 1,
                                                          "parallel_parts": 1})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=5)
    make_big(setup.inbox / f"{aid}.mp4", 25 * MB)
    daemon = daemon_factory()
    wait_for(lambda: "upload.multipart_started" in daemon.output(), 30, what="the upload")
    daemon.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert daemon.proc.poll() is None, "the first SIGTERM lets the part in flight finish"
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.proc.wait(10) == 0
    assert time.monotonic() - started < 5
    assert (setup.inbox / f"{aid}.mp4").exists()


def test_a_heartbeat_url_set_by_a_reload_is_pinged(setup: Setup, daemon_factory) -> None:
    """The heartbeat starts (and later moves) at a reload, without a restart."""
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    with Receiver() as first, Receiver() as second:
        _reload(daemon, setup, metrics={"heartbeat_url": f"http://127.0.0.1:{first.port}/ping",
                                        "heartbeat_seconds": 1})
        wait_for(lambda: first.requests, 20, what="a ping at the new URL")
        setup.write_config(metrics={"heartbeat_url": f"http://127.0.0.1:{second.port}/other",
                                    "heartbeat_seconds": 1})
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: daemon.output().count("config.reloaded") >= 2, 20, what="the reload")
        wait_for(lambda: second.requests, 20, what="a ping at the moved URL")
        pinged = len(first.requests)
        time.sleep(2.5)
        assert len(first.requests) <= pinged + 1, "the old heartbeat goes on pinging"
        assert daemon.stop() == 0
    assert "config.reload_needs_restart" not in daemon.output()


def test_polling_to_events_at_a_reload_sees_new_files_at_once(setup: Setup,
                                                            daemon_factory) -> None:
    """With a long scan interval, polling sees a new file late; after a reload to change
    events, a file dropped in the inbox goes within seconds."""
    aid = asset_id(905)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    slow = {"scan_interval_seconds": 120, "rescan_seconds": 120}
    setup.write_config(**slow, folders=[{"inbox": str(setup.inbox), "done": str(setup.done),
                                         "failed": str(setup.failed), "watch": "polling"}])
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    _reload(daemon, setup, **slow, folders=[{"inbox": str(setup.inbox), "done": str(setup.done),
                                              "failed": str(setup.failed), "watch": "events"}])
    wait_for(lambda: '"mode": "events"' in daemon.output(), 20, what="the event watcher")
    time.sleep(0.5)  # the reload's own scan is over: only an event can find the file now
    started = time.monotonic()
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 500)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done")
    assert time.monotonic() - started < 15
    assert daemon.stop() == 0


def test_a_storm_of_signals_neither_hangs_nor_loses_work(setup: Setup, daemon_factory) -> None:
    """Sixty SIGHUPs while files arrive: the loop keeps turning, the file goes, and one
    SIGTERM still stops the daemon cleanly. (A handler that set an Event itself hung
    here: the next signal landed inside the first one's ``set`` and waited for its lock.)"""
    aid = asset_id(906)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    for n in range(60):
        write_bytes(setup.inbox / f".{n % 20}.tmp", 10)  # change events as signals land
        daemon.signal(signal.SIGHUP)
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 500)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done")
    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 15
    assert "config.reloaded" in daemon.output()

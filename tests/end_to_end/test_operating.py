"""Running unattended: sd_notify, signals, status during uploads, metrics, polling."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request
from pathlib import Path

from tests.conftest import Setup, asset_id, wait_for, write_bytes

MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sd_notify_ready_watchdog_stopping_in_order(setup: Setup, daemon_factory,
                                                    tmp_path: Path) -> None:
    """READY after the first scan, WATCHDOG pings, RELOADING then READY on SIGHUP, STOPPING."""
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(20)
    messages: list[str] = []
    try:
        daemon = daemon_factory(NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="4000000")
        while not any("WATCHDOG=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())
        daemon.signal(signal.SIGHUP)
        while not any("RELOADING=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())
        reload_at = len(messages)
        while not any("READY=1" in m for m in messages[reload_at:]):
            messages.append(sock.recv(4096).decode())
        daemon.signal(signal.SIGTERM)
        while not any("STOPPING=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())
        assert daemon.proc.wait(30) == 0
    finally:
        sock.close()
    kinds = [next(k for k in ("READY=1", "WATCHDOG=1", "RELOADING=1", "STOPPING=1", "STATUS=")
                  if k in m) for m in messages]
    first = {k: kinds.index(k) for k in ("READY=1", "WATCHDOG=1", "RELOADING=1", "STOPPING=1")}
    assert first["READY=1"] < first["WATCHDOG=1"] < first["RELOADING=1"] < first["STOPPING=1"]
    assert "READY=1" in kinds[first["RELOADING=1"]:first["STOPPING=1"]]
    assert any("MONOTONIC_USEC=" in m for m in messages if "RELOADING=1" in m)
    assert any("queued" in m for m in messages if "STATUS=" in m)


def test_sighup_reloads_a_good_config_and_rejects_a_bad_one(setup: Setup,
                                                           daemon_factory) -> None:
    """SIGHUP applies a valid new config; an invalid one is refused and the old one stays."""
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    setup.write_config(settle_seconds="later")
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "config.reload_rejected" in daemon.output(), 20, what="the rejection")
    assert "settle_seconds" in daemon.output()
    aid = asset_id(600)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 100)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 20, what="old config works")
    setup.write_config(upload={"progress_log_seconds": 1})
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "config.reloaded" in daemon.output(), 20, what="the reload")
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0


def test_second_sigterm_exits_at_once(setup: Setup, daemon_factory) -> None:
    """A second SIGTERM does not wait for in-flight work."""
    aid = asset_id(601)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(shutdown_grace_seconds=60, upload={"part_size_mb": 1})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=5)
    write_bytes(setup.inbox / f"{aid}.mp4", 22 * MB)
    daemon = daemon_factory()
    wait_for(lambda: "upload.multipart_started" in daemon.output(), 30, what="the upload")
    time.sleep(0.5)
    daemon.signal(signal.SIGTERM)
    time.sleep(0.5)
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.proc.wait(10) == 0
    assert time.monotonic() - started < 5


def test_status_json_shows_upload_progress_increasing(setup: Setup, daemon_factory) -> None:
    """`status --json` while a large file uploads shows bytes sent growing."""
    aid = asset_id(602)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 1})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.25)
    write_bytes(setup.inbox / f"{aid}.mp4", 30 * MB)
    daemon = daemon_factory()

    def sent() -> int:
        data = json.loads(setup.cli("status", "--json").stdout)
        total = 0
        for folder in data["folders"]:
            for item in folder.get("in_flight", []):
                total += item.get("sent", 0)
        for item in data.get("in_flight_elsewhere", []):
            total += item.get("sent", 0)
        return total

    first = wait_for(sent, 30, what="progress in status")
    second = wait_for(lambda: (s := sent()) > first and s, 30, what="more progress")
    assert second > first
    human = setup.cli("status")
    assert "%" in human.stdout and aid in human.stdout
    assert human.returncode == 0
    assert daemon.stop() == 0
    assert setup.cli("status").returncode == 1  # not running any more


def test_metrics_counters_move(setup: Setup, daemon_factory) -> None:
    """/metrics shows files and bytes by outcome moving; /healthz answers."""
    port = free_port()
    setup.write_config(metrics={"address": f"127.0.0.1:{port}"})
    daemon = daemon_factory()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: "metrics.listening" in daemon.output(), 20, what="metrics")

    def scrape() -> str:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            return resp.read().decode()

    first = scrape()  # every series exists from the start, at 0, and no *_created
    assert 'outcome="done"} 0.0' in first and "_created" not in first
    for name in ("vodwatch_paused{", "vodwatch_unavailable{", "vodwatch_retries_total{",
                 "vodwatch_throttles_total{", "vodwatch_notification_failures{",
                 "vodwatch_failed_files{", "vodwatch_queue_depth{"):
        assert name in first, name
    aid = asset_id(603)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 1234)
    write_bytes(setup.inbox / "bad-name.mp4", 10)
    wait_for(lambda: 'outcome="failed"} 1.0' in scrape() and 'outcome="done"} 1.0' in
             scrape(), 30, what="counters")
    text = scrape()
    assert "vodwatch_bytes_total" in text and "1234.0" in text
    assert "vodwatch_last_success_timestamp_seconds" in text
    assert "vodwatch_upload_duration_seconds_bucket" in text
    with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
        assert json.loads(resp.read())["healthy"] is True
    assert daemon.stop() == 0


def test_polling_mode_finds_files_without_events(setup: Setup, daemon_factory) -> None:
    """With `watch: polling` (as on a network share) files are found by scanning."""
    setup.write_config(folders=[{"inbox": str(setup.inbox), "done": str(setup.done),
                                 "failed": str(setup.failed), "watch": "polling"}],
                       scan_interval_seconds=0.5)
    aid = asset_id(604)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    daemon = daemon_factory()
    wait_for(lambda: '"mode": "polling"' in daemon.output(), 20, what="polling mode")
    write_bytes(setup.inbox / f"{aid}.cover.png", 100)
    wait_for(lambda: (setup.done / f"{aid}.cover.png").exists(), 20, what="done")
    assert daemon.stop() == 0


def test_retry_moves_failed_files_back(setup: Setup) -> None:
    """`vodwatch retry` puts a failed file back in the inbox and removes its error file."""
    write_bytes(setup.inbox / "wrong.mp4", 10)
    assert setup.cli("once").returncode == 1
    result = setup.cli("retry", "wrong.mp4")
    assert result.returncode == 0, result.stderr
    assert setup.names(setup.inbox) == ["wrong.mp4"]
    assert setup.names(setup.failed) == []
    assert setup.cli("retry", "nothing-like-this.mp4").returncode == 1
    assert setup.cli("retry").returncode == 2
    assert setup.cli("once").returncode == 1
    assert setup.cli("retry", "--all").returncode == 0
    assert setup.names(setup.inbox) == ["wrong.mp4"]

"""Hostile tests of SIGHUP (SPEC §5): every reloadable setting applies to new work at once,
restart-only ones are named, a bad config is refused, uploads in flight survive."""

from __future__ import annotations

import hashlib
import signal
import time
from pathlib import Path

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import log_lines, make_big, ops, parts_sent

MB = 1_000_000


def ready(daemon) -> None:  # type: ignore[no-untyped-def]
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")


def hup(daemon, event: str = "config.reloaded", count: int = 1) -> None:  # type: ignore[no-untyped-def]
    before = daemon.output().count(event)
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: daemon.output().count(event) >= before + count, 20, what=event)


def folder(root: Path, **extra: object) -> dict:
    return {"inbox": str(root / "inbox"), "done": str(root / "done"),
            "failed": str(root / "failed"), **extra}


def test_restart_only_settings_are_named_and_the_rest_applies(setup: Setup,
                                                              daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """Changing state_dir, workers, instance_id and metrics.address names them in
    config.reload_needs_restart; the old journal stays in use and files still go."""
    daemon = daemon_factory()
    ready(daemon)
    setup.write_config(state_dir=str(setup.root / "elsewhere"), upload={"workers": 7},
                       claims={"instance_id": "renamed", "lease_seconds": 3},
                       metrics={"address": "127.0.0.1:1"})
    hup(daemon)
    lines = [x for x in log_lines(daemon.output()) if x["event"] == "config.reload_needs_restart"]
    assert lines, daemon.output()[-2000:]
    assert set(lines[0]["settings"]) == {"state_dir", "upload.workers", "claims.instance_id",
                                         "metrics.address"}
    aid = asset_id(9100)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 500)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 20, what="done")
    assert not (setup.root / "elsewhere").exists(), "state_dir keeps its old value"
    assert daemon.stop() == 0


def test_bad_configs_on_reload_are_refused_and_the_daemon_keeps_working(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """Broken YAML, a bad value, an unknown key, an empty file and a missing file are each
    refused with config.reload_rejected; the old config stays and files still go."""
    daemon = daemon_factory()
    ready(daemon)
    good = setup.config_path.read_text()
    bads = ["vod: [unclosed\n", good.replace("settle_seconds: 0.5", "settle_seconds: -3"),
            good + "\nsettle_secs: 3\n", "", good.replace("level: info", "level: loud")]
    for n, text in enumerate(bads):
        setup.config_path.write_text(text)
        hup(daemon, "config.reload_rejected", 1)
        assert daemon.proc.poll() is None, f"bad config {n} killed the daemon"
    setup.config_path.unlink()
    daemon.signal(signal.SIGHUP)
    time.sleep(1.5)
    assert daemon.proc.poll() is None, "a missing config file killed the daemon"
    assert daemon.output().count("config.reload_rejected") == len(bads) + 1
    assert "config.reloaded" not in daemon.output()
    aid = asset_id(9101)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 500)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 20, what="done")
    setup.config_path.write_text(good)
    assert daemon.stop() == 0


def test_a_longer_settle_time_applies_to_new_files_at_once(setup: Setup,
                                                           daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """After a reload to settle_seconds 600 a new file is not taken within 4 s; a reload
    back to 0.5 sends it."""
    daemon = daemon_factory()
    ready(daemon)
    setup.write_config(settle_seconds=600)
    hup(daemon)
    aid = asset_id(9102)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 500)
    time.sleep(4)
    assert not (setup.done / f"{aid}.cover.jpg").exists()
    setup.write_config(settle_seconds=0.5)
    hup(daemon)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 15, what="done")
    assert daemon.stop() == 0


def test_a_lower_update_limit_paces_the_next_calls(setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """After a reload to update_asset_per_minute 20, five covers of five assets are not
    asked for in a burst: the UpdateAsset calls spread over several seconds."""
    daemon = daemon_factory()
    ready(daemon)
    setup.write_config(limits={"update_asset_per_minute": 20})
    hup(daemon)
    aids = [asset_id(9110 + n) for n in range(5)]
    for aid in aids:
        setup.emulator.seed_asset(aid, "PUBLISHED")
        write_bytes(setup.inbox / f"{aid}.cover.jpg", 500)
    wait_for(lambda: len(setup.names(setup.done)) == 5, 40, what="all done")
    times = sorted(r.time for r in ops(setup, "update_asset"))
    assert times[-1] - times[0] >= 5.0, times
    assert daemon.stop() == 0


def test_a_bandwidth_timetable_given_at_a_reload_caps_the_next_upload(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """A reload to a timetable that holds 16 Mbit/s all day caps the next 6 MB upload
    (>= ~2.5 s) and logs bandwidth.changed; status shows the timetable."""
    daemon = daemon_factory()
    ready(daemon)
    setup.write_config(upload={"bandwidth_limit_mbps": "00:00,16 12:00,16"})
    hup(daemon)
    aid = asset_id(9120)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    make_big(setup.inbox / f"{aid}.mp4", 6 * MB)
    started = time.monotonic()
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 40, what="done")
    assert time.monotonic() - started >= 2.5
    assert "bandwidth.changed" in daemon.output()
    assert daemon.stop() == 0


def test_create_mode_switched_on_by_a_reload_applies_to_new_titles(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """A reload that turns create_assets on makes the next title-named video one asset."""
    daemon = daemon_factory()
    ready(daemon)
    setup.write_config(folders=[folder(setup.root, create_assets=True)])
    hup(daemon)
    write_bytes(setup.inbox / "After reload.mp4", 20_000)
    wait_for(lambda: (setup.done / "After reload.mp4").exists()
             or setup.names(setup.failed), 20, what="an outcome")
    assert [a["title"] for a in setup.emulator.assets_created()] == ["After reload"]
    assert daemon.stop() == 0


def test_a_reload_during_a_multipart_upload_does_not_break_it(setup: Setup,
                                                               daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """SIGHUPs with a new part size and bandwidth while a multipart upload is in flight:
    the upload finishes, one confirm, the file in done/ exactly once."""
    aid = asset_id(9130)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 5, "parallel_parts": 2})
    setup.emulator.add_fault("slow", "obs_part", count=4, delay=1)
    md5 = make_big(setup.inbox / f"{aid}.mp4", 30 * MB)
    daemon = daemon_factory()
    wait_for(lambda: "upload.multipart_started" in daemon.output(), 30, what="the upload")
    setup.write_config(upload={"part_size_mb": 8, "parallel_parts": 1,
                               "bandwidth_limit_mbps": 400}, settle_seconds=1)
    for _ in range(3):
        hup(daemon)
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="done")
    time.sleep(1)
    assert daemon.stop() == 0
    assert setup.emulator.confirms(aid) == ["CREATED"]
    assert setup.names(setup.done) == [f"{aid}.mp4"] and setup.names(setup.inbox) == []
    assert hashlib.md5(setup.emulator.read_object(aid, "video")).hexdigest() == md5
    numbers = sorted({n for _, n in parts_sent(setup)})
    assert numbers == list(range(1, len(numbers) + 1))


def test_a_storm_of_sighups_while_files_flow(setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """Sixty SIGHUPs in a row while twenty files flow: the daemon lives, every file is
    done once, and it still stops with status 0."""
    daemon = daemon_factory()
    ready(daemon)
    aids = [asset_id(9200 + n) for n in range(20)]
    for aid in aids:
        setup.emulator.seed_asset(aid, "PUBLISHED")
    for n, aid in enumerate(aids):
        write_bytes(setup.inbox / f"{aid}.cover.jpg", 400 + n)
        if n % 2:
            write_bytes(setup.inbox / f"{aid}.1.en.srt", 100 + n)
        for _ in range(3):
            daemon.signal(signal.SIGHUP)
            time.sleep(0.01)
    wanted = len(aids) + len(aids) // 2
    wait_for(lambda: len(setup.names(setup.done)) == wanted, 60, what="all done")
    assert daemon.proc.poll() is None
    assert setup.names(setup.failed) == []
    assert "job.crashed" not in daemon.output() and "Traceback" not in daemon.output()
    assert daemon.stop() == 0


def test_removing_the_folder_set_of_an_upload_in_flight(setup: Setup, daemon_factory,
                                                        tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A reload removes the folder set whose multipart upload is in flight: no crash, and
    once it is configured again the file ends in done/ exactly once with one confirm."""
    aid = asset_id(9140)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 5, "parallel_parts": 1})
    setup.emulator.add_fault("slow", "obs_part", count=3, delay=1)
    make_big(setup.inbox / f"{aid}.mp4", 25 * MB)
    other = tmp_path / "other"
    for name in ("inbox", "done", "failed"):
        (other / name).mkdir(parents=True)
    daemon = daemon_factory()
    wait_for(lambda: "upload.multipart_started" in daemon.output(), 30, what="the upload")
    setup.write_config(folders=[folder(other)], upload={"part_size_mb": 5,
                                                        "parallel_parts": 1})
    hup(daemon, "config.folder_removed")
    time.sleep(4)
    assert daemon.proc.poll() is None
    assert "Traceback" not in daemon.output()
    setup.write_config(folders=[folder(setup.root), folder(other)],
                       upload={"part_size_mb": 5, "parallel_parts": 1})
    hup(daemon, "config.folder_added")
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 40, what="done")
    time.sleep(2)
    assert setup.names(setup.done) == [f"{aid}.mp4"] and setup.names(setup.inbox) == []
    assert setup.emulator.confirms(aid) == ["CREATED"]
    assert "job.crashed" not in daemon.output()
    assert daemon.stop() == 0

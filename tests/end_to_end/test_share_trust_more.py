"""Hostile tests of the share contract, continued: a share away at start that comes back,
a first start on an empty mount point, and stale tickets after a lost journal.

Real subprocesses, real folders, real bind mounts (root); no mocks.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import bind, visible
from tests.mounts import is_mount
from vodwatch.claim import marker_name


def _share_on_bind_mount(setup: Setup) -> tuple[Path, Path, Path]:
    """A share whose inbox is itself a bind-mount point (done/ and failed/ inside it)."""
    backing = setup.root / "backing"
    for d in ("done", "failed"):
        (backing / d).mkdir(parents=True)
    mount_point = setup.root / "share-inbox"
    mount_point.mkdir()
    setup.write_config(folders=[{"inbox": str(mount_point), "done": str(mount_point / "done"),
                                 "failed": str(mount_point / "failed"), "watch": "polling"}])
    return backing, mount_point, mount_point / "done"


def test_a_share_away_at_start_is_recovered_when_it_comes_back(setup: Setup,
                                                               daemon_factory) -> None:
    """Started while the share is away, with a file hidden in our own 0.1 claim folder and a
    stale marker of ours on a file in the inbox: once the share is mounted, both files are
    in the inbox and reach done/, without another restart."""
    backing, mount_point, done = _share_on_bind_mount(setup)
    with bind(backing, mount_point):
        first = daemon_factory(name="first")  # the share becomes known
        wait_for(lambda: "daemon.ready" in first.output(), 30, what="the first start")
        assert first.stop() == 0
    me = (setup.state / "daemon-id").read_text().strip()
    hidden_id, stale_id = asset_id(7301), asset_id(7302)
    setup.emulator.seed_asset(hidden_id, "PUBLISHED")
    setup.emulator.seed_asset(stale_id, "PUBLISHED")
    legacy = backing / ".vodwatch" / "claims" / "test-host"
    legacy.mkdir(parents=True)
    (legacy / ".lease").write_text("1 1700000000.000\n")
    write_bytes(legacy / f"4.{hidden_id}.cover.jpg", 1000)
    write_bytes(backing / f"{stale_id}.cover.jpg", 1000)
    marker = backing / ".vodwatch" / "files" / marker_name(f"{stale_id}.cover.jpg")
    marker.mkdir()
    (marker / "owner").write_text(f"{me}\n99\n{stale_id}.cover.jpg\n")

    assert not is_mount(mount_point)
    again = daemon_factory(name="started-while-away")
    wait_for(lambda: "folder.unavailable" in again.output(), 30, what="the outage")
    time.sleep(1)
    assert os.listdir(mount_point) == []
    with bind(backing, mount_point):
        wait_for(lambda: {f"{hidden_id}.cover.jpg", f"{stale_id}.cover.jpg"} <= set(
            visible(done)), 60, what="both files in done/ after the share came back")
        assert again.stop() == 0
        assert not (mount_point / ".vodwatch" / "claims").exists()
        assert not marker.exists()
    assert again.proc.returncode == 0


def _tickets(inbox: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (inbox / ".vodwatch" / "jobs").rglob("*.json")]

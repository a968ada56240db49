"""Hostile tests of the share contract, continued: a share away at start that comes back,
a first start on an empty mount point, and stale tickets after a lost journal.

Real subprocesses, real folders, real bind mounts (root); no mocks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import MB, bind, file_md5, make_big, parts_sent, visible
from tests.mounts import is_mount
from vodwatch.claim import marker_name
from vodwatch.journal import CLAIMED, Journal, NewFile
from vodwatch.names import DEFAULT_LANGUAGE_MAP, parse_name


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


def _legacy_job(setup: Setup, inbox: Path, hidden: Path, name: str) -> None:
    """The journal a 0.1 daemon left: an unfinished job whose file it hid in ``hidden``."""
    journal = Journal.open(setup.state)
    try:
        slot = json.dumps(dataclasses.asdict(parse_name(name, DEFAULT_LANGUAGE_MAP)))
        job_id, _ = journal.create_job(str(inbox), name[:32], False, [
            NewFile(name, "cover", str(inbox / name), str(hidden), slot)])
        journal.set_job(job_id, state=CLAIMED)
        journal.set_meta("legacy_claims", "1")
    finally:
        journal.close()


def test_a_first_start_on_an_empty_mount_point_creates_nothing_there(setup: Setup,
                                                                     daemon_factory) -> None:
    """The first start of this version (0.1's journal holds a job) while the share is not
    mounted and no /etc/fstab entry says it should be: the mount point stays empty, the
    folder set says the share seems not mounted; mounted, the hidden file comes back and
    is delivered."""
    backing, mount_point, done = _share_on_bind_mount(setup)
    name = f"{asset_id(7311)}.cover.jpg"
    setup.emulator.seed_asset(name[:32], "PUBLISHED")
    legacy = backing / ".vodwatch" / "claims" / "test-host"
    legacy.mkdir(parents=True)
    (legacy / ".lease").write_text("1 1700000000.000\n")
    write_bytes(legacy / f"1.{name}", 1000)
    _legacy_job(setup, mount_point, mount_point / ".vodwatch" / "claims" / "test-host"
                / f"1.{name}", name)

    daemon = daemon_factory(name="first-start-unmounted")
    wait_for(lambda: "seems not mounted" in daemon.output(), 30, what="the outage")
    time.sleep(2)
    assert daemon.proc.poll() is None
    assert os.listdir(mount_point) == [], "created in the empty mount point"
    status = setup.cli("status", "--json")
    assert "seems not mounted" in status.stdout
    with bind(backing, mount_point):
        wait_for(lambda: name in visible(done), 60, what="the file in done/ after the mount")
        assert daemon.stop() == 0
        assert (mount_point / ".vodwatch" / "share-id").is_file()
        assert not (mount_point / ".vodwatch" / "claims").exists()
    assert not (mount_point / ".vodwatch").exists()


def test_a_journal_moved_aside_with_work_in_flight_leaves_no_ticket_for_a_peer(
        setup: Setup, daemon_factory, tmp_path: Path) -> None:
    """Killed mid-upload, its journal moved aside (the documented way out of a corrupt
    one), restarted: the file is delivered once, the old job's ticket is gone from the
    share, and a peer that later takes the daemon over adopts no duplicate job."""
    configs = []
    for who in ("alpha", "beta"):
        setup.write_config(state_dir=str(tmp_path / f"state-{who}"),
                           claims={"instance_id": who, "lease_seconds": 3},
                           upload={"part_size_mb": 1, "parallel_parts": 1})
        path = setup.root / f"{who}.yaml"
        os.replace(setup.config_path, path)
        configs.append(path)
    cover, big = asset_id(7321), asset_id(7322)
    setup.emulator.seed_asset(cover, "PUBLISHED")
    setup.emulator.seed_asset(big, "UPLOAD_FAILED")
    write_bytes(setup.inbox / f"{cover}.cover.jpg", 1000)
    alpha = daemon_factory(name="alpha", config=configs[0])
    wait_for(lambda: f"{cover}.cover.jpg" in visible(setup.done), 30, what="job 1 done")
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
    big_name = f"{big}.mp4"
    digest = make_big(setup.inbox / big_name, 21 * MB)
    wait_for(lambda: len(parts_sent(setup)) >= 2, 60, what="job 2 under way")
    alpha.kill()
    state = tmp_path / "state-alpha"
    me = (state / "daemon-id").read_text().strip()
    mine = setup.inbox / ".vodwatch" / "jobs" / me
    assert [p.name for p in mine.iterdir()] == ["2.json"]
    aside = tmp_path / "journal-aside"
    aside.mkdir()
    for part in state.glob("journal.sqlite3*"):
        os.replace(part, aside / part.name)
    setup.emulator.clear_faults()

    again = daemon_factory(name="alpha-new-journal", config=configs[0])
    wait_for(lambda: big_name in visible(setup.done), 90, what="the file in done/")
    wait_for(lambda: not list(mine.glob("*.json")), 10, what="no ticket left")
    again.kill()  # presumed dead by the peer below
    peer = daemon_factory(name="beta", config=configs[1])
    wait_for(lambda: not (setup.inbox / ".vodwatch" / "daemons" / me).exists(), 30,
             what="the peer's take-over of the killed daemon")
    assert peer.stop() == 0
    assert "recover.adopted" not in peer.output()
    assert visible(setup.done) == {big_name, f"{cover}.cover.jpg"}
    assert visible(setup.inbox) == set() and visible(setup.failed) == set()
    assert file_md5(setup.done / big_name) == digest
    # The upload the lost journal started is cancelled by the new job: delivered once.
    assert setup.emulator.confirms(big).count("CREATED") == 1

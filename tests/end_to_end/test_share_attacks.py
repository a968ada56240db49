"""Hostile tests of the share contract (SPEC §3, §4, §5): visibility, share faults,
second processes, secrets on the share, and two daemons on one share.

Real subprocesses, real folders, real mounts (root); no mocks.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import (
    MB,
    NotifyListener,
    Sampler,
    bind,
    file_md5,
    free_port,
    get_health,
    log_lines,
    make_big,
    metric,
    ops,
    parts_sent,
    status_json,
    visible,
)
from tests.mounts import fill, is_mount, tmpfs
from vodwatch.claim import marker_name
from vodwatch.emulator import DEFAULT_SK

WRONG_SK = "a-wrong-secret-key-000000000000"


# ---- 1. visibility -------------------------------------------------------------------

def test_big_file_stays_visible_while_uploading_after_sigterm_and_after_kill_9(
        setup: Setup, daemon_factory) -> None:
    """A file stays in the inbox under its own name while it uploads, after SIGTERM and
    after kill -9 mid-upload, until it is in done/ (never hidden for a moment)."""
    aid = asset_id(7001)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 2})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
    name = f"{aid}.mp4"
    digest = make_big(setup.inbox / name, 21 * MB + 777)
    with Sampler(setup.inbox, [setup.done, setup.failed], [name]) as sampler:
        first = daemon_factory(name="first")
        wait_for(lambda: len(parts_sent(setup)) >= 3, 60, what="some parts")
        assert name in visible(setup.inbox)
        # The heartbeat comes every 2 s: status shows the upload within a few seconds.
        wait_for(lambda: [u["file"] for u in status_json(setup)["folders"][0]["in_flight"]]
                 == [name], 10, interval=0.5, what="status to show the upload")
        assert first.stop() == 0
        assert name in visible(setup.inbox) and name not in visible(setup.done)

        sent = len(parts_sent(setup))
        second = daemon_factory(name="second")
        wait_for(lambda: len(parts_sent(setup)) >= sent + 3, 60, what="parts after restart")
        second.kill()
        assert name in visible(setup.inbox)
        time.sleep(0.5)
        assert name in visible(setup.inbox) and name not in visible(setup.done)

        setup.emulator.clear_faults()
        third = daemon_factory(name="third")
        wait_for(lambda: name in visible(setup.done), 120, what="the file in done/")
        assert third.stop() == 0
    assert sampler.samples > 50
    assert sampler.missing == [], sampler.missing[:3]
    assert name not in visible(setup.inbox)
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == digest
    assert setup.emulator.confirms(aid).count("CREATED") == 1


@pytest.mark.parametrize("trouble", ["wrong credentials", "VOD unreachable"])
def test_once_that_gives_up_leaves_the_file_visible(setup: Setup, trouble: str) -> None:
    """`once` exiting 3 (credentials rejected, or VOD unreachable) leaves the file in the
    inbox under its own name, not in failed/; a later `once` delivers it."""
    aid = asset_id(7002)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    name = f"{aid}.mp4"
    data = write_bytes(setup.inbox / name, 50_000)
    env = {}
    if trouble == "wrong credentials":
        env["HUAWEICLOUD_SDK_SK"] = WRONG_SK
    else:
        setup.emulator.go_offline()
    result = setup.cli("once", **env)
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr
    assert name in visible(setup.inbox)
    assert visible(setup.failed) == set() and visible(setup.done) == set()
    setup.emulator.go_online()
    again = setup.cli("once")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr
    assert visible(setup.done) == {name} and visible(setup.inbox) == set()
    assert setup.emulator.read_object(aid, "video") == data


def test_files_that_cannot_be_read_or_moved_are_never_hidden(setup: Setup,
                                                              daemon_factory) -> None:
    """A FIFO and a folder named like videos, and a file that cannot be moved (a read-only
    bind mount over itself), are always visible to the editor: in the inbox, or in
    failed/ with an error file; the daemon keeps working beside them."""
    fifo = f"{asset_id(7010)}.mp4"
    os.mkfifo(setup.inbox / fifo)
    folder = f"{asset_id(7011)}.mov"
    (setup.inbox / folder).mkdir()
    stuck_aid = asset_id(7012)
    setup.emulator.seed_asset(stuck_aid, "PUBLISHED")
    stuck = f"{stuck_aid}.cover.jpg"
    stuck_data = write_bytes(setup.inbox / stuck, 20_000)
    normal_aid = asset_id(7013)
    setup.emulator.seed_asset(normal_aid, "PUBLISHED")
    names = [fifo, folder, stuck]
    with Sampler(setup.inbox, [setup.done, setup.failed], names) as sampler:
        with bind(setup.inbox / stuck, setup.inbox / stuck, read_only=True):
            daemon = daemon_factory()
            wait_for(lambda: (setup.failed / f"{fifo}.error.txt").exists(), 30,
                     what="the FIFO in failed/")
            assert "not a regular file" in (setup.failed / f"{fifo}.error.txt").read_text()
            write_bytes(setup.inbox / f"{normal_aid}.cover.jpg", 3000)
            wait_for(lambda: (setup.done / f"{normal_aid}.cover.jpg").exists(), 30,
                     what="a normal file beside them")
            wait_for(lambda: setup.emulator.read_object(stuck_aid, "cover") == stuck_data, 30,
                     what="the stuck file uploaded")
            time.sleep(2)
            assert stuck in visible(setup.inbox) and folder in visible(setup.inbox)
            status = setup.cli("status")
            assert stuck in status.stdout, status.stdout
            assert daemon.proc.poll() is None
        wait_for(lambda: stuck in visible(setup.done), 30, what="the stuck file moved at last")
        assert daemon.stop() == 0
    assert sampler.missing == [], sampler.missing[:3]
    assert folder in visible(setup.inbox)
    assert setup.emulator.read_object(stuck_aid, "cover") == stuck_data
    assert len([r for r in ops(setup, "update_asset")
                if r.body and r.body.get("asset_id") == stuck_aid]) == 1


# ---- 4. share faults while running ----------------------------------------------------

def _share_config(setup: Setup, share: Path, **extra) -> tuple[Path, Path, Path]:
    inbox, done, failed = share / "inbox", share / "done", share / "failed"
    for d in (inbox, done, failed):
        d.mkdir(exist_ok=True)
    setup.write_config(folders=[{"inbox": str(inbox), "done": str(done),
                                 "failed": str(failed), "watch": "polling"}], **extra)
    return inbox, done, failed


def test_full_share_makes_the_folder_set_unavailable_then_it_carries_on(
        setup: Setup, daemon_factory) -> None:
    """A full share: the daemon stays alive, log, status and /healthz say the folder set is
    unavailable because the share is full, no file is lost; space freed, files reach done/."""
    port = free_port()
    with tmpfs(setup.root / "share", "2m") as share, \
            NotifyListener(setup.root / "notify.sock") as notify:
        inbox, done, failed = _share_config(setup, share,
                                            metrics={"address": f"127.0.0.1:{port}"})
        first, second = asset_id(7020), asset_id(7021)
        for aid in (first, second):
            setup.emulator.seed_asset(aid, "PUBLISHED")
        daemon = daemon_factory(NOTIFY_SOCKET=str(notify.path))
        write_bytes(inbox / f"{first}.cover.jpg", 100_000)
        wait_for(lambda: (done / f"{first}.cover.jpg").exists(), 30, what="a first delivery")
        name = f"{second}.cover.jpg"
        data = write_bytes(inbox / name, 100_000)
        fill(share / "filler")
        with Sampler(inbox, [done, failed], [name]) as sampler:
            wait_for(lambda: "folder.unavailable" in daemon.output(), 30, what="the outage")
            time.sleep(2)
            assert daemon.proc.poll() is None
            lines = [x for x in log_lines(daemon.output()) if x.get("event") ==
                     "folder.unavailable"]
            assert any("the share is full" in x.get("reason", "") for x in lines), lines
            code, health = get_health(port)
            assert code == 503 and health["unavailable"], health
            wait_for(lambda: status_json(setup)["folders"][0]["available"] is False, 10,
                     interval=0.5, what="status to see the outage")
            assert "NOT AVAILABLE" in setup.cli("status").stdout
            wait_for(lambda: any("UNAVAILABLE" in x and "full" in x for x in notify.statuses()),
                     10, what="sd_notify STATUS to say why")
            assert metric(port, "vodwatch_unavailable{") == 1.0
            assert metric(port, "vodwatch_share_available{") is not None
            assert name in visible(inbox) or name in visible(done)
            (share / "filler").unlink()
            wait_for(lambda: name in visible(done), 30, what="the file after space was freed")
            wait_for(lambda: "folder.available_again" in daemon.output(), 30, what="recovery")
            wait_for(lambda: metric(port, "vodwatch_unavailable{") == 0.0, 10,
                     what="the metric to say it is back")
            wait_for(lambda: "UNAVAILABLE" not in notify.statuses()[-1], 10,
                     what="sd_notify STATUS to say it is back")
        assert daemon.stop() == 0
        assert sampler.missing == [], sampler.missing[:3]
        assert (done / name).read_bytes() == data
        assert visible(failed) == set()


def test_status_says_why_the_share_is_unavailable(setup: Setup, daemon_factory) -> None:
    """`vodwatch status` says why a folder set is unavailable (here: the share is full),
    not a guess that it is unmounted."""
    with tmpfs(setup.root / "share", "1m") as share:
        inbox, _, _ = _share_config(setup, share)
        aid = asset_id(7022)
        write_bytes(inbox / f"{aid}.cover.jpg", 1000)
        fill(share / "filler")
        daemon = daemon_factory()
        wait_for(lambda: "folder.unavailable" in daemon.output(), 30, what="the outage")
        assert "the share is full" in daemon.output()
        wait_for(lambda: status_json(setup)["folders"][0]["available"] is False, 10,
                 interval=0.5, what="status to see the outage")
        text = setup.cli("status").stdout.replace(str(setup.root), "<root>")
        assert daemon.stop() == 0
    assert "NOT AVAILABLE" in text
    assert "full" in text, text
    assert "unmounted" not in text, text


def test_inbox_removed_and_recreated_while_running(setup: Setup, daemon_factory) -> None:
    """The inbox deleted and made again while `run` runs: the daemon stays alive and a new
    file dropped in the new inbox reaches done/."""
    setup.write_config(folders=[{"inbox": str(setup.inbox), "done": str(setup.done),
                                 "failed": str(setup.failed), "watch": "polling"}])
    a, b = asset_id(7030), asset_id(7031)
    for aid in (a, b):
        setup.emulator.seed_asset(aid, "PUBLISHED")
    daemon = daemon_factory()
    write_bytes(setup.inbox / f"{a}.cover.jpg", 1000)
    wait_for(lambda: (setup.done / f"{a}.cover.jpg").exists(), 30, what="a first delivery")
    shutil.rmtree(setup.inbox)
    time.sleep(1.5)
    setup.inbox.mkdir()
    write_bytes(setup.inbox / f"{b}.cover.jpg", 1000)
    wait_for(lambda: (setup.done / f"{b}.cover.jpg").exists(), 30,
             what="a file from the new inbox")
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0
    assert visible(setup.failed) == set()


def test_read_only_done_keeps_the_file_in_the_inbox_and_says_why(setup: Setup,
                                                                  daemon_factory) -> None:
    """done/ read-only: the delivered file stays in the inbox, status says why; once done/
    is writable again the file reaches done/, uploaded and confirmed once."""
    aid = asset_id(7040)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    name = f"{aid}.mp4"
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 30, what="the daemon")
    with bind(setup.done, setup.done, read_only=True):
        data = write_bytes(setup.inbox / name, 80_000)
        with Sampler(setup.inbox, [setup.done, setup.failed], [name]) as sampler:
            wait_for(lambda: setup.emulator.confirms(aid), 30, what="the confirm")
            wait_for(lambda: "folder.unavailable" in daemon.output(), 30, what="the outage")
            time.sleep(1.5)
            assert name in visible(setup.inbox)
            text = setup.cli("status").stdout.replace(str(setup.root), "<root>")
            assert "read-only" in text.lower() or "may not write" in text, text
            assert daemon.proc.poll() is None
    assert sampler.missing == [], sampler.missing[:3]
    with Sampler(setup.inbox, [setup.done, setup.failed], [name]) as sampler:
        wait_for(lambda: name in visible(setup.done), 30, what="done/ writable again")
    assert daemon.stop() == 0
    assert sampler.missing == [], sampler.missing[:3]
    assert (setup.done / name).read_bytes() == data
    assert setup.emulator.confirms(aid) == ["CREATED"]
    assert len(ops(setup, "update_asset")) == 1


@pytest.mark.parametrize(("layout", "disk"), [
    ("share-root", "same"),
    ("inbox-itself", "tmpfs"),
    ("inbox-itself", "same"),
])
def test_bind_mounted_share_unmounted_restart_and_remount(setup: Setup, daemon_factory,
                                                           layout: str, disk: str) -> None:
    """A bind-mounted share unmounted while running, and a restart while it is unmounted:
    vodwatch creates nothing in the empty mount point and cancels nothing; remounted, the
    files reach done/ exactly once."""
    backing = setup.root / "backing"
    backing.mkdir()
    if disk == "tmpfs":
        with contextlib.ExitStack() as stack:
            stack.enter_context(tmpfs(backing, "64m"))
            _unmount_and_remount(setup, daemon_factory, layout, backing)
    else:
        _unmount_and_remount(setup, daemon_factory, layout, backing)


def _unmount_and_remount(setup: Setup, daemon_factory, layout: str, backing: Path) -> None:
    if layout == "share-root":
        mount_point = setup.root / "share"
        mount_point.mkdir()
        inbox, done, failed = mount_point / "inbox", mount_point / "done", mount_point / "failed"
        for d in ("inbox", "done", "failed"):
            (backing / d).mkdir()
    else:  # the inbox itself is the mount point; done/ and failed/ are inside it
        mount_point = setup.root / "share-inbox"
        mount_point.mkdir()
        inbox, done, failed = mount_point, mount_point / "done", mount_point / "failed"
        for d in ("done", "failed"):
            (backing / d).mkdir()
    setup.write_config(folders=[{"inbox": str(inbox), "done": str(done),
                                 "failed": str(failed), "watch": "polling"}],
                       upload={"part_size_mb": 1, "parallel_parts": 1})
    small, big = asset_id(7050), asset_id(7051)
    setup.emulator.seed_asset(small, "PUBLISHED")
    setup.emulator.seed_asset(big, "UPLOAD_FAILED")
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
    with bind(backing, mount_point):
        big_name = f"{big}.mp4"
        digest = make_big(inbox / big_name, 21 * MB)
        daemon = daemon_factory(name="first")
        wait_for(lambda: len(parts_sent(setup)) >= 2, 60, what="the upload under way")
        write_bytes(inbox / f"{small}.cover.jpg", 1000)
        time.sleep(0.2)
    # Unmounted under the running daemon.
    assert not is_mount(mount_point)
    wait_for(lambda: "folder.unavailable" in daemon.output()
             or (mount_point / ".vodwatch").exists(), 20, what="the outage")
    assert not (mount_point / ".vodwatch").exists(), "created in the empty mount point"
    assert "folder.unavailable" in daemon.output()
    time.sleep(2)
    assert daemon.proc.poll() is None
    assert not (mount_point / ".vodwatch").exists(), "created in the empty mount point"
    assert not (mount_point / "inbox").exists() or layout != "share-root"
    assert daemon.stop() == 0
    # Restarted while the share is away.
    again = daemon_factory(name="restarted-while-away")
    wait_for(lambda: "daemon.ready" in again.output(), 30, what="the restart")
    time.sleep(3)
    assert again.proc.poll() is None
    assert not (mount_point / ".vodwatch").exists(), "created in the empty mount point"
    assert os.listdir(mount_point) == []
    assert "CANCELLED" not in setup.emulator.confirms(big)
    assert not ops(setup, "obs_abort")
    assert backing.is_dir()
    setup.emulator.clear_faults()
    with bind(backing, mount_point):
        wait_for(lambda: (done / big_name).exists() and (done / f"{small}.cover.jpg").exists(),
                 90, what="both files in done/ after the remount")
        assert again.stop() == 0
        assert sorted(n for n in visible(done)) == sorted([big_name, f"{small}.cover.jpg"])
        assert file_md5(done / big_name) == digest
    stored = setup.emulator.object_path(big, "video")
    assert stored is not None and file_md5(stored) == digest
    assert setup.emulator.confirms(big) == ["CREATED"]
    assert len([r for r in ops(setup, "update_asset") if r.body.get("asset_id") == big]) == 1
    assert len([r for r in ops(setup, "update_asset") if r.body.get("asset_id") == small]) == 1
    assert max(Counter(parts_sent(setup)).values()) == 1, "a part was sent twice"


# ---- 5. two processes on one state_dir -----------------------------------------------

def test_once_beside_run_is_refused_and_the_upload_is_unharmed(setup: Setup,
                                                               daemon_factory) -> None:
    """`once` beside a running `run` on the same config exits 2 naming the running pid,
    and the upload in flight carries on: done/ once, no part sent twice."""
    aid = asset_id(7060)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 2})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.2)
    name = f"{aid}.mp4"
    digest = make_big(setup.inbox / name, 21 * MB)
    daemon = daemon_factory()
    wait_for(lambda: len(parts_sent(setup)) >= 2, 60, what="the upload under way")
    second = setup.cli("once", timeout=60)
    assert second.returncode == 2, second.stdout[-2000:] + second.stderr
    assert f"pid {daemon.proc.pid}" in second.stderr
    assert name in visible(setup.inbox)
    setup.emulator.clear_faults()
    wait_for(lambda: name in visible(setup.done), 90, what="the upload to finish")
    assert daemon.stop() == 0
    assert file_md5(setup.done / name) == digest
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == digest
    assert max(Counter(parts_sent(setup)).values()) == 1
    assert len(ops(setup, "obs_initiate")) == 1
    assert setup.emulator.confirms(aid) == ["CREATED"]


# ---- 6. no secret on the share ----------------------------------------------------------

SECRET_MARKS = ("Signature=", "AccessKeyId", DEFAULT_SK, "X-Amz-Signature", "X-Amz-Credential")


def _secrets_on(folders: list[Path]) -> list[str]:
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                text = path.read_bytes().decode("utf-8", "replace")
                found += [f"{path}: {mark}" for mark in SECRET_MARKS if mark in text]
    return found


def test_no_signed_url_or_credential_is_ever_written_to_the_share(setup: Setup,
                                                                  daemon_factory) -> None:
    """After single and multipart uploads and a kill -9 mid multipart, no file on the share
    (its hidden folder included) holds a URL signature, an AK or the SK; state_dir is 0700
    and the journal 0600."""
    share = [setup.inbox, setup.done, setup.failed]
    small, big = asset_id(7070), asset_id(7071)
    setup.emulator.seed_asset(small, "UPLOAD_FAILED")
    setup.emulator.seed_asset(big, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 2})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
    setup.emulator.add_fault("reset", "obs_part", count=1, after_bytes=1000)
    write_bytes(setup.inbox / f"{small}.mp4", 30_000)
    make_big(setup.inbox / f"{big}.mp4", 21 * MB)
    daemon = daemon_factory()
    wait_for(lambda: len(parts_sent(setup)) >= 4, 60, what="the multipart under way")
    assert _secrets_on(share) == []
    daemon.kill()
    tickets = list((setup.inbox / ".vodwatch").rglob("*.json"))
    assert tickets, "a multipart job in flight leaves a ticket on the share"
    assert _secrets_on(share) == []
    setup.emulator.clear_faults()
    again = daemon_factory(name="restarted")
    wait_for(lambda: {f"{small}.mp4", f"{big}.mp4"} <= visible(setup.done), 90,
             what="both in done/")
    assert again.stop() == 0
    assert _secrets_on(share) == []
    assert stat.S_IMODE(os.stat(setup.state).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(setup.state / "journal.sqlite3").st_mode) == 0o600
    for extra in ("journal.sqlite3-wal", "journal.sqlite3-shm"):
        if (setup.state / extra).exists():
            assert stat.S_IMODE(os.stat(setup.state / extra).st_mode) & 0o077 == 0, extra


# ---- 7. two daemons on one share --------------------------------------------------------

def test_two_daemons_one_share_kill_9_one_mid_upload(setup: Setup, daemon_factory,
                                                      tmp_path: Path) -> None:
    """Two daemons (own state_dirs) on one share: 20 small files and a multipart file each
    reach done/ exactly once; one killed mid-upload is taken over after the lease, and no
    claim marker is left behind."""
    configs = []
    for who in ("alpha", "beta"):
        setup.write_config(state_dir=str(tmp_path / f"state-{who}"),
                           claims={"instance_id": who, "lease_seconds": 3},
                           upload={"part_size_mb": 1, "parallel_parts": 2, "workers": 2},
                           limits={"update_asset_per_minute": 6000})
        path = setup.root / f"{who}.yaml"
        os.replace(setup.config_path, path)
        configs.append(path)
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.25)
    setup.emulator.add_fault("slow", "obs_put", count=None, delay=0.1)
    expected = {}
    for i in range(20):
        aid = asset_id(7100 + i)
        setup.emulator.seed_asset(aid, "PUBLISHED")
        name = f"{aid}.cover.jpg"
        write_bytes(setup.inbox / name, 5000)
        expected[name] = file_md5(setup.inbox / name)
    big = asset_id(7199)
    setup.emulator.seed_asset(big, "UPLOAD_FAILED")
    big_name = f"{big}.mp4"
    expected[big_name] = make_big(setup.inbox / big_name, 21 * MB)
    with Sampler(setup.inbox, [setup.done, setup.failed], list(expected)) as sampler:
        alpha = daemon_factory(name="alpha", config=configs[0])
        beta = daemon_factory(name="beta", config=configs[1])
        wait_for(lambda: len(parts_sent(setup)) >= 3, 60, what="the multipart under way")
        owner_file = setup.inbox / ".vodwatch" / "files" / marker_name(big_name) / "owner"
        owner = wait_for(lambda: owner_file.exists() and owner_file.read_text().split("\n")[0],
                         10, what="the multipart's claim marker")
        ids = {who: (tmp_path / f"state-{who}" / "daemon-id").read_text().strip()
               for who in ("alpha", "beta")}
        victim, survivor = (alpha, beta) if owner == ids["alpha"] else (beta, alpha)
        assert owner in ids.values()
        victim.kill()
        killed_at = time.monotonic()
        wait_for(lambda: set(expected) <= visible(setup.done), 120,
                 what="everything in done/")
        assert time.monotonic() - killed_at >= 1.5  # not before the lease ran out
        assert survivor.stop() == 0
    assert sampler.missing == [], sampler.missing[:3]
    assert visible(setup.done) == set(expected), "a file reached done/ twice or renamed"
    for name, digest in expected.items():
        assert file_md5(setup.done / name) == digest
    assert visible(setup.inbox) == set() and visible(setup.failed) == set()
    stored = setup.emulator.object_path(big, "video")
    assert stored is not None and file_md5(stored) == expected[big_name]
    assert setup.emulator.confirms(big).count("CREATED") == 1
    left = [p for p in (setup.inbox / ".vodwatch" / "files").iterdir()]
    assert left == [], left
    assert "claim.taken_over" in survivor.output() or "recover.adopted" in survivor.output()


def _two_configs(setup: Setup, tmp_path: Path, **extra) -> list[Path]:
    configs = []
    for who in ("alpha", "beta"):
        setup.write_config(state_dir=str(tmp_path / f"state-{who}"),
                           claims={"instance_id": who, "lease_seconds": 3}, **extra)
        path = setup.root / f"{who}.yaml"
        os.replace(setup.config_path, path)
        configs.append(path)
    return configs


def test_survivor_carries_a_dead_peers_multipart_upload_on(setup: Setup, daemon_factory,
                                                           tmp_path: Path) -> None:
    """A daemon killed mid multipart upload: the peer that takes it over resumes the same
    upload (claim.py: "multipart upload included"), sending no finished part again."""
    configs = _two_configs(setup, tmp_path, upload={"part_size_mb": 1, "parallel_parts": 2})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.25)
    big = asset_id(7299)
    setup.emulator.seed_asset(big, "UPLOAD_FAILED")
    name = f"{big}.mp4"
    digest = make_big(setup.inbox / name, 21 * MB)
    alpha = daemon_factory(name="alpha", config=configs[0])
    wait_for(lambda: len(parts_sent(setup)) >= 4, 60, what="the multipart under way")
    beta = daemon_factory(name="beta", config=configs[1])
    wait_for(lambda: "daemon.ready" in beta.output(), 30, what="the peer")
    alpha.kill()
    tickets = list((setup.inbox / ".vodwatch" / "jobs").rglob("*.json"))
    assert len(tickets) == 1
    ticket = json.loads(tickets[0].read_text())
    # What the survivor needs to carry the upload on (no secret: the ID is not a credential).
    assert ticket["files"][0]["upload_id"], ticket["files"][0]
    wait_for(lambda: name in visible(setup.done), 90, what="the file in done/")
    assert beta.stop() == 0
    stored = setup.emulator.object_path(big, "video")
    assert stored is not None and file_md5(stored) == digest
    assert "recover.adopted" in beta.output()
    assert setup.emulator.confirms(big) == ["CREATED"]
    assert len(ops(setup, "obs_initiate")) == 1
    assert max(Counter(number for _, number in parts_sent(setup)).values()) == 1


def test_a_frozen_daemon_that_wakes_after_a_take_over_does_no_harm(
        setup: Setup, daemon_factory, tmp_path: Path) -> None:
    """A daemon frozen (SIGSTOP) mid-upload for longer than the lease is taken over; woken
    after the survivor delivered, it confirms, moves and explains nothing: the file is in
    done/ once, confirmed once."""
    configs = _two_configs(setup, tmp_path, upload={"part_size_mb": 1, "parallel_parts": 2})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.25)
    big = asset_id(7399)
    setup.emulator.seed_asset(big, "UPLOAD_FAILED")
    name = f"{big}.mp4"
    digest = make_big(setup.inbox / name, 21 * MB)
    alpha = daemon_factory(name="alpha", config=configs[0])
    wait_for(lambda: len(parts_sent(setup)) >= 4, 60, what="the multipart under way")
    beta = daemon_factory(name="beta", config=configs[1])
    wait_for(lambda: "daemon.ready" in beta.output(), 30, what="the peer")
    alpha.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: "claim.taken_over" in beta.output(), 30, what="the take-over")
        setup.emulator.clear_faults()
        wait_for(lambda: name in visible(setup.done), 90, what="the survivor to deliver")
    finally:
        alpha.signal(signal.SIGCONT)
    time.sleep(3)  # let the woken daemon do whatever it would do
    assert alpha.proc.poll() is None and beta.proc.poll() is None
    assert alpha.stop() == 0 and beta.stop() == 0
    assert visible(setup.done) == {name}
    assert visible(setup.inbox) == set() and visible(setup.failed) == set()
    assert file_md5(setup.done / name) == digest
    stored = setup.emulator.object_path(big, "video")
    assert stored is not None and file_md5(stored) == digest
    assert setup.emulator.confirms(big).count("CREATED") == 1
    assert "claim.taken_over_by_peer" in alpha.output()
    assert list((setup.inbox / ".vodwatch" / "files").iterdir()) == []
    woken = alpha.output().split("claim.taken_over_by_peer")[-1]
    assert "job.confirmed" not in woken and "file.failed" not in woken


def test_a_frozen_daemon_woken_while_the_survivor_uploads_does_no_harm(
        setup: Setup, daemon_factory, tmp_path: Path) -> None:
    """A daemon frozen near the end of its upload, taken over, and woken while the survivor
    is still uploading: it neither confirms nor moves the file; the survivor's upload is
    the one confirmed, once, and the file reaches done/ only then."""
    configs = _two_configs(setup, tmp_path, upload={"part_size_mb": 1, "parallel_parts": 2})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.25)
    big = asset_id(7499)
    setup.emulator.seed_asset(big, "UPLOAD_FAILED")
    name = f"{big}.mp4"
    digest = make_big(setup.inbox / name, 21 * MB)
    alpha = daemon_factory(name="alpha", config=configs[0])
    beta = daemon_factory(name="beta", config=configs[1])
    wait_for(lambda: "daemon.ready" in beta.output() and "daemon.ready" in alpha.output(), 30,
             what="both daemons")
    owner_file = setup.inbox / ".vodwatch" / "files" / marker_name(name) / "owner"
    owner = wait_for(lambda: owner_file.exists() and owner_file.read_text().split("\n")[0],
                     30, what="the claim marker")
    frozen, survivor = (alpha, beta) if owner.startswith("alpha") else (beta, alpha)
    wait_for(lambda: len(parts_sent(setup)) >= 16, 60, what="most parts sent")
    frozen.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: "claim.taken_over" in survivor.output(), 30, what="the take-over")
    finally:
        frozen.signal(signal.SIGCONT)
    wait_for(lambda: name in visible(setup.done) | visible(setup.failed), 60,
             what="the file in done/ (or failed/)")
    time.sleep(4)
    assert frozen.stop() == 0 and survivor.stop() == 0
    assert visible(setup.failed) == set(), (setup.failed / f"{name}.error.txt").read_text()
    assert visible(setup.done) == {name}
    assert visible(setup.inbox) == set() and visible(setup.failed) == set()
    asset = setup.emulator.asset(big)
    assert setup.emulator.confirms(big)[-1] == "CREATED", setup.emulator.confirms(big)
    assert setup.emulator.confirms(big).count("CREATED") == 1, setup.emulator.confirms(big)
    assert asset is not None and asset["status"] not in ("CANCELLED", "UPLOAD_FAILED"), asset
    stored = setup.emulator.object_path(big, "video")
    assert stored is not None and file_md5(stored) == digest
    assert "job.confirmed" not in frozen.output().split("claim.taken_over_by_peer")[-1]

"""Proofs of the share contract that other end-to-end tests leave open: each file of a
grouped request has its own outcome, the state folder can fail and recover while the
daemon runs, an unreadable file ends in failed/, a metadata-only change is not a new
file, and nothing secret is shown.

Real subprocesses, real folders, real mounts (root); no mocks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import _SIGNATURE, OUTPUTS, Daemon, Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import (
    MB,
    Sampler,
    file_md5,
    free_port,
    get_health,
    log_lines,
    make_big,
    ops,
    parts_sent,
    status_json,
    visible,
)
from tests.mounts import fill, mounted, tmpfs
from vodwatch.claim import marker_name
from vodwatch.emulator import DEFAULT_SK, Emulator
from vodwatch.share import daemon_id


def error_text(setup: Setup, name: str) -> str:
    return (setup.failed / f"{name}.error.txt").read_text()


def no_error_file_for(setup: Setup, *names: str) -> None:
    for name in names:
        assert not (setup.failed / f"{name}.error.txt").exists(), name
        assert not (setup.failed / name).exists(), name


# ---- 1. each file has its own outcome -----------------------------------------------

def drop_three(setup: Setup, aid: str) -> tuple[str, str, str]:
    video, cover, subtitle = f"{aid}.mp4", f"{aid}.cover.png", f"{aid}.1.en.srt"
    write_bytes(setup.inbox / video, 150_000)
    write_bytes(setup.inbox / cover, 3_000)
    write_bytes(setup.inbox / subtitle, 800)
    return video, cover, subtitle


def assert_video_alone_failed(setup: Setup, aid: str, names: tuple[str, str, str],
                              state: str) -> None:
    video, cover, subtitle = names
    assert setup.names(setup.done) == sorted([cover, subtitle])
    assert setup.names(setup.failed) == [video, f"{video}.error.txt"]
    text = error_text(setup, video)
    assert video in text and "video" in text.lower() and state in text, text
    assert cover not in text and subtitle not in text
    no_error_file_for(setup, cover, subtitle)
    assert setup.emulator.read_object(aid, "cover") == (setup.done / cover).read_bytes()
    assert setup.emulator.read_object(aid, "subtitle", 1) == (setup.done / subtitle).read_bytes()
    assert setup.emulator.confirms(aid) == []
    assert list(setup.inbox.iterdir()) in ([], [setup.inbox / ".vodwatch"])


def test_a_video_refused_for_a_published_asset_fails_alone(setup: Setup) -> None:
    """VOD takes no new video for a published asset: the video goes to failed/ with an
    error file about the video and the asset's state; the cover and the subtitle dropped
    with it are sent and reach done/, with no error file of their own."""
    aid = asset_id(9101)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    names = drop_three(setup, aid)
    assert setup.cli("once").returncode == 1
    assert_video_alone_failed(setup, aid, names, "PUBLISHED")


def test_a_video_refused_with_vod_10061_fails_alone(setup: Setup) -> None:
    """VOD answers 403 VOD.10061 to the grouped request although the asset is in a state
    that takes a video (UPLOAD_FAILED: VOD-API.md §0.1): the video fails on its own, with
    the code and the state in its error file; the cover and the subtitle reach done/."""
    aid = asset_id(9102)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    names = drop_three(setup, aid)
    setup.emulator.add_fault("status", "update_asset", count=1, status=403, code="VOD.10061",
                             message="The current media asset status is not allowed to be "
                                     "updated.")
    assert setup.cli("once").returncode == 1
    assert_video_alone_failed(setup, aid, names, "UPLOAD_FAILED")
    assert "VOD.10061" in error_text(setup, names[0])
    updates = [r for r in setup.emulator.requests if r.operation == "update_asset"]
    assert len(updates) == 2  # the refused group, then the cover and subtitle alone


def test_two_videos_for_one_slot_never_fail_the_cover(setup: Setup) -> None:
    """``x.mp4`` and ``x.MOV`` both claim the asset's video: the cover dropped with them is
    delivered; one video is delivered, the other ends in failed/ with an error file about
    itself, never the cover failing as a replacement video."""
    aid = asset_id(9103)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    cover = f"{aid}.cover.png"
    videos = [f"{aid}.mp4", f"{aid}.MOV"]
    for n, video in enumerate(videos):
        write_bytes(setup.inbox / video, 120_000 + n, seed=video)
    write_bytes(setup.inbox / cover, 3_000)
    assert setup.cli("once").returncode == 1
    done, failed = setup.names(setup.done), setup.names(setup.failed)
    assert cover in done and cover not in failed
    no_error_file_for(setup, cover)
    assert setup.emulator.read_object(aid, "cover") == (setup.done / cover).read_bytes()
    delivered = [v for v in videos if v in done]
    refused = [v for v in videos if v in failed]
    assert len(delivered) == 1 and len(refused) == 1, (done, failed)
    assert failed == sorted([refused[0], f"{refused[0]}.error.txt"])
    text = error_text(setup, refused[0])
    assert refused[0] in text and cover not in text, text
    assert setup.emulator.read_object(aid, "video") == (setup.done / delivered[0]).read_bytes()
    assert setup.emulator.confirms(aid) == ["CREATED"]


def test_two_videos_and_two_covers_each_have_their_own_outcome(setup: Setup) -> None:
    """Two videos and two covers for one asset: one of each is delivered; each refused
    file's error file names that file only, and a cover's never speaks of a video."""
    aid = asset_id(9104)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    videos = [f"{aid}.mp4", f"{aid}.MOV"]
    covers = [f"{aid}.cover.png", f"{aid}.cover.jpg"]
    for n, name in enumerate(videos + covers):
        write_bytes(setup.inbox / name, 5_000 + n, seed=name)
    assert setup.cli("once").returncode == 1
    done = setup.names(setup.done)
    assert len([v for v in videos if v in done]) == 1, done
    assert len([c for c in covers if c in done]) >= 1, done
    for name in videos + covers:
        assert (name in done) != (setup.failed / name).exists(), name
        if name in done:
            no_error_file_for(setup, name)
            continue
        text = error_text(setup, name)
        others = [o for o in videos + covers if o != name]
        assert name in text and not any(o in text for o in others), text
        if name in covers:
            assert "video" not in text.lower(), text


# ---- 2. a daemon's identity is unique per state_dir ---------------------------------

def test_a_daemon_id_is_kept_per_state_dir_and_differs_between_state_dirs(
        tmp_path: Path) -> None:
    """Two state_dirs with the same instance_id give two identities; one state_dir keeps
    its identity across starts."""
    first = daemon_id(tmp_path / "one", "same-host")
    second = daemon_id(tmp_path / "two", "same-host")
    assert first != second
    assert first.startswith("same-host-") and second.startswith("same-host-")
    assert daemon_id(tmp_path / "one", "same-host") == first
    assert daemon_id(tmp_path / "two", "same-host") == second


def test_two_daemons_with_one_instance_id_never_take_each_others_markers(
        setup: Setup, daemon_factory, tmp_path: Path) -> None:
    """Two daemons given the same ``claims.instance_id`` but their own state_dirs, on one
    share: while both live, the second leaves the first's upload alone; the first killed
    mid-upload, the second takes it over after the lease and delivers it once."""
    configs = []
    for who in ("alpha", "beta"):
        setup.write_config(state_dir=str(tmp_path / f"state-{who}"),
                           claims={"instance_id": "same-host", "lease_seconds": 3},
                           upload={"part_size_mb": 1, "parallel_parts": 2})
        path = setup.root / f"{who}.yaml"
        os.replace(setup.config_path, path)
        configs.append(path)
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.5)
    big = asset_id(9301)
    setup.emulator.seed_asset(big, "UPLOAD_FAILED")
    name = f"{big}.mp4"
    digest = make_big(setup.inbox / name, 21 * MB)
    with Sampler(setup.inbox, [setup.done, setup.failed], [name]) as sampler:
        alpha = daemon_factory(name="alpha", config=configs[0])
        wait_for(lambda: len(parts_sent(setup)) >= 3, 60, what="the multipart under way")
        beta = daemon_factory(name="beta", config=configs[1])
        wait_for(lambda: "daemon.ready" in beta.output(), 30, what="the second daemon")
        ids = {who: (tmp_path / f"state-{who}" / "daemon-id").read_text().strip()
               for who in ("alpha", "beta")}
        assert ids["alpha"] != ids["beta"], ids
        owner_file = setup.inbox / ".vodwatch" / "files" / marker_name(name) / "owner"
        time.sleep(2)  # several scans of the second daemon while the first uploads
        assert owner_file.read_text().split("\n")[0] == ids["alpha"]
        assert len(ops(setup, "update_asset")) == 1 and len(ops(setup, "obs_initiate")) == 1
        alpha.kill()
        killed_at = time.monotonic()
        wait_for(lambda: name in visible(setup.done) | visible(setup.failed), 90,
                 what="the file delivered by the survivor")
        assert time.monotonic() - killed_at >= 1.5  # not before the lease ran out
        assert beta.stop() == 0
    assert sampler.missing == [], sampler.missing[:3]
    assert visible(setup.failed) == set(), (setup.failed / f"{name}.error.txt").read_text()
    assert visible(setup.done) == {name} and visible(setup.inbox) == set()
    assert file_md5(setup.done / name) == digest
    stored = setup.emulator.object_path(big, "video")
    assert stored is not None and file_md5(stored) == digest
    assert setup.emulator.confirms(big) == ["CREATED"]
    assert "claim.taken_over" in beta.output() or "recover.adopted" in beta.output()
    assert list((setup.inbox / ".vodwatch" / "files").iterdir()) == []



def test_a_take_over_after_the_confirm_took_effect_delivers_the_file(
        setup: Setup, daemon_factory, tmp_path: Path) -> None:
    """The daemon uploading a file dies after VOD took its confirm but before it heard
    the answer (VOD now holds the video, CREATED). The survivor that takes the job over
    must move the file to done/: VOD has exactly these bytes, and failed/ would lie."""
    configs = []
    for who in ("alpha", "beta"):
        setup.write_config(state_dir=str(tmp_path / f"state-{who}"),
                           claims={"instance_id": who, "lease_seconds": 3},
                           upload={"part_size_mb": 1, "parallel_parts": 2})
        path = setup.root / f"{who}.yaml"
        os.replace(setup.config_path, path)
        configs.append(path)
    big = asset_id(9302)
    setup.emulator.seed_asset(big, "UPLOAD_FAILED")
    name = f"{big}.mp4"
    digest = make_big(setup.inbox / name, 21 * MB)
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.2)
    hang = setup.emulator.add_fault("hang", "confirm", count=1)
    alpha = daemon_factory(name="alpha", config=configs[0])
    beta = daemon_factory(name="beta", config=configs[1])
    owner_file = setup.inbox / ".vodwatch" / "files" / marker_name(name) / "owner"
    owner = wait_for(lambda: owner_file.exists() and owner_file.read_text().split("\n")[0],
                     30, what="the file claimed")
    victim, survivor = (alpha, beta) if owner.startswith("alpha") else (beta, alpha)
    # The moment the confirm reaches VOD (the fault is taken), not a second later.
    wait_for(lambda: all(f.id != hang for f in setup.emulator.fault_book.pending()), 60,
             interval=0.002, what="the confirm sent")
    # VOD carries the confirm out; its answer never reaches the sender, which dies.
    setup.emulator.seed_asset(big, "CREATED")
    victim.kill()
    stored = setup.emulator.object_path(big, "video")
    assert stored is not None and file_md5(stored) == digest
    setup.emulator.clear_faults()
    wait_for(lambda: "claim.taken_over" in survivor.output(), 30, what="the take-over")
    wait_for(lambda: name in visible(setup.done) | visible(setup.failed), 60,
             what="the file moved by the survivor")
    assert survivor.stop() == 0
    assert visible(setup.failed) == set(), (setup.failed / f"{name}.error.txt").read_text()
    assert visible(setup.done) == {name} and visible(setup.inbox) == set()
    assert file_md5(setup.emulator.object_path(big, "video") or stored) == digest


# ---- 3. a fault of the state folder while running is a state, not a crash -----------

@contextlib.contextmanager
def ext4_image(path: Path, image: Path) -> Iterator[Path]:
    """A small ext4 filesystem (a loop image) on ``path`` that turns read-only on error,
    as a real disk does; unmounted on the way out."""
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 is not installed")
    path.mkdir(parents=True, exist_ok=True)
    with open(image, "wb") as fh:
        fh.truncate(32 * MB)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    with ext4_image_again(path, image):
        yield path


@contextlib.contextmanager
def ext4_image_again(path: Path, image: Path) -> Iterator[Path]:
    """The image of :func:`ext4_image` mounted again (read-write) on ``path``."""
    with mounted(path, "-o", "loop,errors=remount-ro", str(image)):
        yield path


def make_read_only(path: Path) -> None:
    """Turn the ext4 filesystem on ``path`` read-only under the processes writing to it:
    ``mount -o remount,ro`` is refused while files are open for writing (the journal), an
    error with errors=remount-ro is not."""
    device = next(line.split()[0] for line in Path("/proc/self/mounts").read_text().splitlines()
                  if line.split()[1] == str(path))
    trigger = Path("/sys/fs/ext4") / Path(device).name / "trigger_fs_error"
    if not trigger.exists():
        pytest.skip(f"{trigger} is missing: this kernel cannot make ext4 read-only on demand")
    trigger.write_text("1")
    wait_for(lambda: "emergency_ro" in Path("/proc/self/mounts").read_text()
             or ",ro," in Path("/proc/self/mounts").read_text(), 10, what="ext4 read-only")


def _state_fault_then_clear(setup: Setup, daemon_factory, n: int, *,
                           during: Callable[[Daemon, int, str], None]) -> None:
    """A multipart upload under way, then the state folder (a tmpfs) filled up;
    ``during(daemon, port, name)`` checks the outage; then the fault is cleared and the file
    must reach done/ exactly once, confirmed once, with the same bytes in VOD."""
    port = free_port()
    with tmpfs(setup.state, "8m"):
        os.chmod(setup.state, 0o700)
        setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 2},
                           metrics={"address": f"127.0.0.1:{port}"})
        setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
        aid = asset_id(n)
        setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
        name = f"{aid}.mp4"
        digest = make_big(setup.inbox / name, 21 * MB)
        daemon = daemon_factory()
        wait_for(lambda: len(parts_sent(setup)) >= 3, 60, what="the multipart under way")
        fill(setup.state / "filler")
        try:
            wait_for(lambda: "state.unavailable" in daemon.output(), 30,
                     what="the state fault in the log")
            during(daemon, port, name)
        finally:
            (setup.state / "filler").unlink()
        wait_for(lambda: name in visible(setup.done) | visible(setup.failed), 90,
                 what="the file after the fault cleared")
        wait_for(lambda: "state.available_again" in daemon.output(), 30, what="recovery")
        assert get_health(port)[0] == 200
        assert daemon.stop() == 0
    assert visible(setup.failed) == set(), (setup.failed / f"{name}.error.txt").read_text()
    assert visible(setup.done) == {name} and visible(setup.inbox) == set()
    assert file_md5(setup.done / name) == digest
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == digest
    assert setup.emulator.confirms(aid) == ["CREATED"]


def _outage_is_said(setup: Setup, daemon: Daemon, port: int, name: str) -> None:
    lines = [x for x in log_lines(daemon.output()) if x.get("event") == "state.unavailable"]
    assert lines and lines[0].get("reason"), lines
    time.sleep(2)
    assert daemon.proc.poll() is None
    code, health = get_health(port)
    assert code == 503 and health.get("state") not in (None, "ok"), (code, health)
    assert name in visible(setup.inbox) and visible(setup.done) == set()
    # A job that meets the failed journal waits a look-again time before its next try:
    # a couple of lines in these seconds, not a flood.
    turns = [x for x in log_lines(daemon.output()) if x.get("event") == "job.state_unavailable"]
    assert len(turns) <= 4, len(turns)


def test_a_full_state_dir_while_uploading_is_a_state_then_the_file_is_delivered_once(
        setup: Setup, daemon_factory) -> None:
    """The state folder fills up while a multipart upload runs: the
    daemon stays alive, its log and /healthz (503) say the state folder is unavailable, the
    file stays in the inbox unconfirmed; once the fault clears it is delivered once."""

    def during(daemon: Daemon, port: int, name: str) -> None:
        _outage_is_said(setup, daemon, port, name)
        assert setup.emulator.confirms(asset_id(9401)) == []

    _state_fault_then_clear(setup, daemon_factory, 9401, during=during)


def test_a_state_dir_turned_read_only_while_uploading_is_a_state_not_a_crash(
        setup: Setup, daemon_factory) -> None:
    """The state folder's disk turns read-only under the running daemon (an ext4 error with
    errors=remount-ro): the daemon stays alive, log and /healthz (503) say the state folder
    is unavailable, nothing is confirmed and the file stays in the inbox. Such a disk comes
    back only through a remount, so the daemon is stopped, the disk remounted and the
    daemon started again: the file is delivered once, the multipart upload carried on."""
    port = free_port()
    aid = asset_id(9402)
    name = f"{aid}.mp4"
    with ext4_image(setup.state, setup.root / "state.img"):
        os.chmod(setup.state, 0o700)
        setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 2},
                           metrics={"address": f"127.0.0.1:{port}"})
        setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
        setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
        digest = make_big(setup.inbox / name, 21 * MB)
        daemon = daemon_factory()
        wait_for(lambda: len(parts_sent(setup)) >= 3, 60, what="the multipart under way")
        make_read_only(setup.state)
        wait_for(lambda: "state.unavailable" in daemon.output(), 30,
                 what="the state fault in the log")
        _outage_is_said(setup, daemon, port, name)
        time.sleep(3)  # parts may finish meanwhile: nothing is confirmed nor moved
        assert daemon.proc.poll() is None
        assert setup.emulator.confirms(aid) == [] and name in visible(setup.inbox)
        daemon.stop()
    with ext4_image_again(setup.state, setup.root / "state.img"):
        setup.emulator.clear_faults()
        again = daemon_factory(name="again")
        wait_for(lambda: name in visible(setup.done) | visible(setup.failed), 90,
                 what="the file after the remount")
        assert again.stop() == 0
    assert visible(setup.failed) == set(), (setup.failed / f"{name}.error.txt").read_text()
    assert visible(setup.done) == {name} and visible(setup.inbox) == set()
    assert file_md5(setup.done / name) == digest
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == digest
    assert setup.emulator.confirms(aid) == ["CREATED"]


def test_status_says_the_state_folder_is_unavailable_while_it_is_full(
        setup: Setup, daemon_factory) -> None:
    """While the state folder is full, `vodwatch status` (text and JSON) says the daemon
    runs but its state folder is unavailable: not "healthy", not "not running"."""

    def during(daemon: Daemon, port: int, name: str) -> None:
        for _ in range(3):  # before and after the last heartbeat is 10 s old
            status = setup.cli("status")
            assert status.returncode == 1, status.stdout
            assert "state folder" in status.stdout, status.stdout
            assert "not running" not in status.stdout, status.stdout
            problems = status_json(setup)["problems"]
            assert any("state folder" in p for p in problems), problems
            time.sleep(5)

    _state_fault_then_clear(setup, daemon_factory, 9403, during=during)


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_stop_while_the_state_dir_is_unusable_is_not_an_unexpected_error(
        setup: Setup, daemon_factory, fault: str) -> None:
    """SIGTERM while the state folder is full or read-only: the daemon stops without an
    "unexpected error … report it" (the fault is known and already said); the file stays
    in the inbox."""
    port = free_port()
    aid = asset_id(9404)
    name = f"{aid}.mp4"
    mount = (tmpfs(setup.state, "8m") if fault == "full"
             else ext4_image(setup.state, setup.root / "state.img"))
    with mount:
        os.chmod(setup.state, 0o700)
        setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 2},
                           metrics={"address": f"127.0.0.1:{port}"})
        setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
        setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
        make_big(setup.inbox / name, 21 * MB)
        daemon = daemon_factory()
        wait_for(lambda: len(parts_sent(setup)) >= 3, 60, what="the multipart under way")
        if fault == "full":
            fill(setup.state / "filler")
        else:
            make_read_only(setup.state)
        wait_for(lambda: "state.unavailable" in daemon.output(), 30,
                 what="the state fault in the log")
        code = daemon.stop()
        output = daemon.output()
    assert "unexpected error" not in output and "report it" not in output, output[-1500:]
    assert code in (0, 1), code
    assert name in visible(setup.inbox)




# ---- 4. a file vodwatch cannot read ---------------------------------------------------

NOBODY = 65534


@pytest.fixture
def nobody_setup(emulator: Emulator) -> Iterator[Setup]:
    """Folders, state and config that user 65534 owns, under a folder it can reach (the
    tests' own temporary folders are private to root)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed: cannot run vodwatch as another user")
    top = Path(tempfile.mkdtemp(prefix="vodwatch-other-user-"))
    try:
        os.chmod(top, 0o755)
        s = Setup(top / "site", emulator)
        for d in (s.root, s.inbox, s.done, s.failed):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, NOBODY, NOBODY)
        s.write_config()
        yield s
    finally:
        shutil.rmtree(top, ignore_errors=True)


def as_nobody(setup: Setup, *args: str, timeout: float = 120,
              ) -> subprocess.CompletedProcess[str]:
    """``vodwatch ARGS`` run as user 65534 (no groups), to completion."""
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
               sys.executable, "-m", "vodwatch", *args, "--config", str(setup.config_path)]
    result = subprocess.run(command, env=setup.env(HOME=str(setup.root)), cwd=setup.root,
                            capture_output=True, text=True, timeout=timeout)
    OUTPUTS.append((f"vodwatch {' '.join(args)} as {NOBODY}", result.stdout + result.stderr))
    return result


def test_an_unreadable_file_ends_in_failed_with_the_reason_and_once_exits_1(
        nobody_setup: Setup) -> None:
    """vodwatch runs as a user that cannot read one dropped file (mode 000): that file goes
    to failed/ with an error file saying it cannot be read; the file beside it is
    delivered; ``once`` ends (exit 1) rather than retrying it, and a second ``once`` has
    nothing left to do."""
    setup = nobody_setup
    locked_aid, good_aid = asset_id(9501), asset_id(9502)
    for aid in (locked_aid, good_aid):
        setup.emulator.seed_asset(aid, "PUBLISHED")
    locked, good = f"{locked_aid}.cover.jpg", f"{good_aid}.cover.jpg"
    for name in (locked, good):
        write_bytes(setup.inbox / name, 4000)
        os.chown(setup.inbox / name, NOBODY, NOBODY)
    os.chmod(setup.inbox / locked, 0)
    probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                            "--clear-groups", "cat", str(setup.inbox / locked)],
                           capture_output=True, check=False)
    assert probe.returncode != 0, "the other user can read the locked file"
    started = time.monotonic()
    first = as_nobody(setup, "once", timeout=90)
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-2000:]
    assert time.monotonic() - started < 60
    assert setup.names(setup.done) == [good]
    assert setup.names(setup.failed) == [locked, f"{locked}.error.txt"]
    text = error_text(setup, locked)
    assert locked in text and "cannot be read" in text, text
    assert setup.emulator.read_object(locked_aid, "cover") is None
    assert [n for n in os.listdir(setup.inbox) if not n.startswith(".")] == []
    again = as_nobody(setup, "once", timeout=90)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert setup.names(setup.failed) == [locked, f"{locked}.error.txt"]


def test_the_service_fails_an_unreadable_file_once_and_keeps_quiet_about_it(
        nobody_setup: Setup) -> None:
    """``run`` as a user that cannot read a dropped file: the file lands in failed/ with its
    error file once, and is not tried again (the log says nothing more about it)."""
    setup = nobody_setup
    aid = asset_id(9503)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    locked = f"{aid}.cover.jpg"
    write_bytes(setup.inbox / locked, 4000)
    os.chown(setup.inbox / locked, NOBODY, NOBODY)
    os.chmod(setup.inbox / locked, 0)
    log_path = setup.root / "daemon.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             sys.executable, "-m", "vodwatch", "run", "--config", str(setup.config_path)],
            env=setup.env(HOME=str(setup.root)), cwd=setup.root, stdout=log,
            stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: (setup.failed / f"{locked}.error.txt").exists(), 30,
                     what="the unreadable file in failed/")
            time.sleep(0.5)
            seen = len(log_path.read_text())
            time.sleep(4)  # many scans and rescans
            later = log_path.read_text()[seen:]
            assert proc.poll() is None
            assert locked not in later, later[-2000:]
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            # The folder is removed after the test: its text is kept for the secrets scan.
            OUTPUTS.append((f"daemon run as {NOBODY}", log_path.read_text(errors="replace")))
    assert code == 0, log_path.read_text()[-2000:]
    assert setup.names(setup.failed) == [locked, f"{locked}.error.txt"]
    assert setup.emulator.read_object(aid, "cover") is None


# ---- 5. readiness: a metadata-only change is not a new file, a hidden rewrite is -------

def _slow_multipart(setup: Setup, n: int) -> tuple[str, Path]:
    aid = asset_id(n)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 2})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
    path = setup.inbox / f"{aid}.mp4"
    make_big(path, 21 * MB + 321)
    return aid, path


def test_a_metadata_only_change_during_the_upload_is_confirmed_once(
        setup: Setup, daemon_factory) -> None:
    """While a multipart upload runs, the file's mode is set to what it was and its times
    to what they were (a Finder tag, an SMB client setting ChangeTime: only ctime moves).
    The bytes are the same: the upload is confirmed once, nothing is aborted or sent
    again, and the file is in done/."""
    aid, path = _slow_multipart(setup, 9601)
    digest = file_md5(path)
    daemon = daemon_factory()
    wait_for(lambda: len(parts_sent(setup)) >= 3, 60, what="the multipart under way")
    before = os.stat(path)
    time.sleep(0.02)
    os.chmod(path, before.st_mode & 0o7777)  # same mode: only ctime changes
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # touch with its own times
    after = os.stat(path)
    assert after.st_ctime_ns != before.st_ctime_ns
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    wait_for(lambda: path.name in visible(setup.done) | visible(setup.failed), 90,
             what="the file delivered")
    assert daemon.stop() == 0
    assert visible(setup.done) == {path.name} and visible(setup.failed) == set()
    assert setup.emulator.confirms(aid) == ["CREATED"]
    assert ops(setup, "obs_abort") == []
    assert len(ops(setup, "obs_initiate")) == 1 and len(ops(setup, "update_asset")) == 1
    assert max(Counter(number for _, number in parts_sent(setup)).values()) == 1
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == digest == file_md5(setup.done / path.name)


def test_a_metadata_only_change_during_a_single_put_is_confirmed_once(
        setup: Setup, daemon_factory) -> None:
    """The same ctime-only change while a small file's single PUT is under way: confirmed
    once, sent once, in done/."""
    aid = asset_id(9603)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.emulator.add_fault("slow", "obs_put", count=1, delay=3)
    path = setup.inbox / f"{aid}.mp4"
    data = write_bytes(path, 300_000)
    daemon = daemon_factory()
    wait_for(lambda: ops(setup, "update_asset"), 30, what="the upload asked for")
    time.sleep(0.5)  # the PUT is being held by the store
    before = os.stat(path)
    os.chmod(path, before.st_mode & 0o7777)
    assert os.stat(path).st_ctime_ns != before.st_ctime_ns
    assert ops(setup, "obs_put") == [], "the change came after the PUT"
    wait_for(lambda: path.name in visible(setup.done) | visible(setup.failed), 60,
             what="the file delivered")
    assert daemon.stop() == 0
    assert visible(setup.done) == {path.name} and visible(setup.failed) == set()
    assert setup.emulator.confirms(aid) == ["CREATED"]
    assert len(ops(setup, "obs_put")) == 1 and len(ops(setup, "update_asset")) == 1
    assert setup.emulator.read_object(aid, "video") == data
    assert "file.attributes_changed" in daemon.output()


def test_a_rewrite_in_place_with_the_mtime_put_back_is_abandoned_and_sent_again(
        setup: Setup, daemon_factory) -> None:
    """While a multipart upload runs, bytes already sent are rewritten in place, the size
    kept and the old mtime put back (an SMB copy preserving the timestamp): only ctime
    tells. The upload is abandoned (multipart aborted or VOD's upload cancelled) and
    redone; VOD ends with the final bytes, confirmed once; the file is in done/ once."""
    aid, path = _slow_multipart(setup, 9602)
    daemon = daemon_factory()
    wait_for(lambda: len(parts_sent(setup)) >= 3, 60, what="the multipart under way")
    before = os.stat(path)
    with open(path, "r+b") as fh:  # the first part, already sent, gets other bytes
        fh.write(b"\xa5" * MB)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    final = file_md5(path)
    wait_for(lambda: path.name in visible(setup.done) | visible(setup.failed), 120,
             what="the file delivered")
    assert daemon.stop() == 0
    assert visible(setup.failed) == set(), (setup.failed / f"{path.name}.error.txt").read_text()
    assert visible(setup.done) == {path.name} and visible(setup.inbox) == set()
    assert file_md5(setup.done / path.name) == final
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == final
    confirms = setup.emulator.confirms(aid)
    assert confirms[-1] == "CREATED" and confirms.count("CREATED") == 1, confirms
    assert ops(setup, "obs_abort") or "CANCELLED" in confirms, (
        "the upload of the old bytes was neither aborted nor cancelled")
    assert len(ops(setup, "update_asset")) >= 2  # asked again for the new bytes


# ---- 6. nothing secret where people look -----------------------------------------------

def _secrets_in(text: str) -> list[str]:
    found = []
    if DEFAULT_SK in text:
        found.append("the SK")
    found += [m.group(0)[:40] for m in _SIGNATURE.finditer(text)]
    if "AccessKeyId=" in text:
        found.append("a signed URL (AccessKeyId=)")
    return found


def test_no_signature_or_secret_on_the_status_page_or_in_status_json(
        setup: Setup, daemon_factory) -> None:
    """While and after uploads (a multipart with a reset part and 503s, a single PUT the
    store refuses with SignatureDoesNotMatch, a normal one), the status page beside the
    inbox (and the parts it is made from) and ``vodwatch status --json`` hold no URL
    signature, no signed URL and not the SK."""
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 2})
    big, refused, fine = asset_id(9701), asset_id(9702), asset_id(9703)
    setup.emulator.seed_asset(big, "UPLOAD_FAILED")
    for aid in (refused, fine):
        setup.emulator.seed_asset(aid, "PUBLISHED")
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.2)
    setup.emulator.add_fault("reset", "obs_part", count=1, after_bytes=1000)
    setup.emulator.add_fault("status", "obs_part", count=2, status=503)
    setup.emulator.add_fault("status", "obs_put", count=1, status=403,
                             code="SignatureDoesNotMatch", message="signature mismatch")
    make_big(setup.inbox / f"{big}.mp4", 21 * MB)
    write_bytes(setup.inbox / f"{refused}.cover.jpg", 3000)
    daemon = daemon_factory()
    write_bytes(setup.inbox / f"{fine}.cover.jpg", 3000)
    page = setup.root / "inbox status.txt"

    def everything_shown() -> dict[str, str]:
        shown = {"status --json": setup.cli("status", "--json").stdout,
                 "status": setup.cli("status").stdout}
        # The page, and the parts it is made from (with the rest of the hidden folder).
        for path in [page, *(setup.inbox / ".vodwatch").rglob("*")]:
            with contextlib.suppress(OSError):  # replaced or removed meanwhile
                if path.is_file():
                    shown[str(path)] = path.read_text(errors="replace")
        return shown

    seen: dict[str, str] = {}
    wait_for(lambda: page.exists(), 30, what="the status page")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for label, text in everything_shown().items():
            seen[label] = seen.get(label, "") + text
        if f"{big}.mp4" in visible(setup.done) | visible(setup.failed):
            break
        time.sleep(0.3)
    time.sleep(2.5)  # the page and the heartbeat catch up with the end
    for label, text in everything_shown().items():
        seen[label] = seen.get(label, "") + text
    assert daemon.stop() == 0
    for label, text in everything_shown().items():
        seen[label] = seen.get(label, "") + text
    assert f"{big}.mp4" in visible(setup.done)
    assert len(visible(setup.failed)) == 2  # one cover and its error file
    assert any("in_flight" in t for t in seen.values())
    assert page.exists() and str(page) in seen
    assert any("/.vodwatch/status/" in label for label in seen), sorted(seen)
    leaks = {label: found for label, text in seen.items() if (found := _secrets_in(text))}
    assert leaks == {}, leaks

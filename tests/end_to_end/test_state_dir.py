"""The state_dir through the real CLI: one process per state_dir, plain words when unusable."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.mounts import full_tmpfs, read_only


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The CLI processes of the test inherit the common umask 022."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def daemon_pid_in_journal(setup: Setup) -> int:
    data = json.loads(setup.cli("status", "--json").stdout)
    return int(data["daemon"]["pid"])


def test_a_second_process_on_the_state_dir_is_refused_and_the_first_carries_on(
        setup: Setup, daemon_factory, umask_022: None) -> None:
    """`once` beside a running `run` exits 2 at once naming its pid; kill -9 frees the state_dir."""
    first = daemon_factory()
    wait_for(lambda: "daemon.ready" in first.output(), 30, what="the first daemon")
    assert mode(setup.state) == 0o700
    assert mode(setup.state / "journal.sqlite3") == 0o600
    assert mode(setup.state / "lock") == 0o600
    assert daemon_pid_in_journal(setup) == first.proc.pid

    started = time.monotonic()
    second = setup.cli("once", timeout=60)
    assert second.returncode == 2, second.stderr
    assert time.monotonic() - started < 20
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert lines[0].startswith(f"vodwatch: another vodwatch (pid {first.proc.pid}, "
                               "`vodwatch run`, started ")
    assert lines[0].endswith(f"UTC) already uses state_dir {setup.state} (stop it first, or "
                             "give this one its own state_dir)")
    assert "Traceback" not in second.stdout + second.stderr

    # The first one is untouched: still the journal's daemon, still working.
    assert first.proc.poll() is None
    assert daemon_pid_in_journal(setup) == first.proc.pid
    aid = asset_id(900)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 100)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="the first at work")

    # status reads the journal while run holds the lock; check only reports the holder.
    status = setup.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    check = setup.cli("check")
    assert (f"[ OK ] state_dir {setup.state} is in use by another vodwatch (pid "
            f"{first.proc.pid}, `vodwatch run`") in check.stdout
    assert first.proc.poll() is None

    first.kill()  # SIGKILL: the kernel drops the lock, the lock file stays
    assert (setup.state / "lock").exists()
    again = daemon_factory(name="after-kill")
    wait_for(lambda: "daemon.ready" in again.output(), 30, what="the new daemon")
    assert daemon_pid_in_journal(setup) == again.proc.pid
    aid = asset_id(901)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 100)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="the new one at work")
    assert again.stop() == 0


def test_once_tightens_a_state_dir_others_can_read(setup: Setup, umask_022: None) -> None:
    """`check` warns about a 0755 state_dir; `once` makes it 0700, says so, and does its work."""
    setup.state.mkdir(mode=0o755)
    os.chmod(setup.state, 0o755)
    before = setup.cli("check")
    assert (f"[WARN] state_dir {setup.state} can be read by others (mode 0755): vodwatch run "
            f"and once make it private (0700) when they start; chmod 700 {setup.state} does it "
            "now") in before.stdout
    assert mode(setup.state) == 0o755  # check only reports
    run = setup.cli("once")
    assert run.returncode == 0, run.stdout + run.stderr
    assert mode(setup.state) == 0o700
    assert mode(setup.state / "journal.sqlite3") == 0o600
    assert f"state_dir {setup.state} could be read by others (mode 0755)" in run.stdout
    check = setup.cli("check")
    assert "can be read by others" not in check.stdout


def test_a_damaged_journal_stops_once_and_check_with_the_fix(setup: Setup) -> None:
    """Garbage in journal.sqlite3: `once` exits 2 and `check` fails, both naming file and fix."""
    setup.state.mkdir(mode=0o700)
    garbage = b"definitely not SQLite " * 300
    (setup.state / "journal.sqlite3").write_bytes(garbage)
    run = setup.cli("once")
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr == (
        f"vodwatch: the journal {setup.state / 'journal.sqlite3'} is damaged (file is not a "
        f"database) (move it aside (cd {setup.state} && mv journal.sqlite3 "
        "journal.sqlite3.corrupt) and start again: files on the share are where they were, "
        "and vodwatch carries on from the share)\n")
    assert "unexpected error" not in run.stderr
    assert (setup.state / "journal.sqlite3").read_bytes() == garbage
    check = setup.cli("check")
    assert check.returncode == 1
    assert (f"[FAIL] the journal {setup.state / 'journal.sqlite3'} is damaged (file is not a "
            "database): move it aside") in check.stdout
    # Following the advice works.
    os.rename(setup.state / "journal.sqlite3", setup.state / "journal.sqlite3.corrupt")
    assert setup.cli("once").returncode == 0


def test_a_read_only_state_dir_stops_once_and_check_with_the_fix(setup: Setup) -> None:
    """A state_dir on a read-only mount: `once` exits 2 and `check` fails, with the fix."""
    setup.state.mkdir(mode=0o700)
    with read_only(setup.state):
        run = setup.cli("once")
        check = setup.cli("check")
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.startswith(f"vodwatch: state_dir {setup.state} is on a read-only "
                                 "filesystem (mount it read-write, or choose another state_dir")
    assert "Traceback" not in run.stdout + run.stderr
    assert check.returncode == 1
    assert f"[FAIL] state_dir {setup.state} is on a read-only filesystem: " in check.stdout


def test_a_full_state_dir_stops_once_with_a_plain_message(setup: Setup) -> None:
    """A state_dir on a full disk: `once` exits 2 saying it is full, no traceback."""
    with full_tmpfs(setup.state):
        run = setup.cli("once")
        check = setup.cli("check")
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr == (f"vodwatch: state_dir {setup.state} is full (no space left on its "
                          f"disk) (free some space there (df -h {setup.state}), or choose "
                          "another state_dir)\n")
    assert "Traceback" not in run.stdout
    assert check.returncode == 1
    assert f"[FAIL] state_dir {setup.state} is full" in check.stdout


def test_run_waits_out_a_full_state_dir_then_starts_by_itself(setup: Setup,
                                                             daemon_factory) -> None:
    """`run` on a full state disk stays up saying why (an exit 2 would be final under
    systemd), and starts and delivers once space is freed."""
    with full_tmpfs(setup.state, size="8m"):
        daemon = daemon_factory()
        wait_for(lambda: "state.unavailable" in daemon.output(), 30, what="the wait")
        assert f"state_dir {setup.state} is full" in daemon.output()
        aid = asset_id(901)
        setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
        write_bytes(setup.inbox / f"{aid}.mp4", 50_000)
        time.sleep(1.5)
        assert daemon.proc.poll() is None, daemon.output()
        assert "daemon.ready" not in daemon.output()
        assert daemon.output().count("state.unavailable") == 1  # said once, not every look
        os.remove(setup.state / "filler")
        wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="the delivery")
        assert "state.available" in daemon.output()
        assert daemon.stop() == 0


def test_a_stop_while_waiting_for_the_state_dir_is_clean(setup: Setup, daemon_factory) -> None:
    """SIGTERM during the wait ends `run` with exit 0 and nothing written."""
    with full_tmpfs(setup.state, size="1m"):
        daemon = daemon_factory()
        wait_for(lambda: "state.unavailable" in daemon.output(), 30, what="the wait")
        started = time.monotonic()
        assert daemon.stop() == 0
        assert time.monotonic() - started < 5
        assert "Traceback" not in daemon.output()


def test_run_still_refuses_a_state_dir_that_is_a_setup_mistake(setup: Setup) -> None:
    """Only a disk condition is waited out: a state_dir that is a file ends `run` at once."""
    setup.state.write_text("not a folder")
    run = setup.cli("run", timeout=30)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"state_dir {setup.state} is not a folder" in run.stderr
    assert "state.unavailable" not in run.stdout + run.stderr

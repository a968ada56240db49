"""The state folder: private modes, one process per state_dir, plain errors when unusable."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mounts import full_tmpfs, read_only
from vodwatch.errors import JournalDamaged, StateBusy, StateUnavailable
from vodwatch.journal import Journal
from vodwatch.state import (
    Holder,
    StateLock,
    is_locked,
    open_journal,
    prepare_state_dir,
    read_holder,
)
from vodwatch.state_wait import disk_fault

T0 = 1_796_032_800.0  # 2026-11-30 10:00:00 UTC


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """Every test here runs with the common umask 022, which would leave files world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


# ---- modes --------------------------------------------------------------------------------


def test_a_new_state_dir_and_journal_are_private(tmp_path: Path) -> None:
    """A new state_dir (and its parents) is made 0700, the journal and its -wal/-shm 0600."""
    state = tmp_path / "a" / "b" / "state"
    assert prepare_state_dir(state) == []
    assert mode(state) == 0o700
    journal = open_journal(state)
    try:
        journal.event("x", "done", file="a.mp4")
        names = {p.name: mode(p) for p in state.iterdir()}
    finally:
        journal.close()
    assert names == {"journal.sqlite3": 0o600, "journal.sqlite3-wal": 0o600,
                     "journal.sqlite3-shm": 0o600}


def test_journal_open_makes_a_new_file_private_whatever_the_umask(tmp_path: Path) -> None:
    """Journal.open alone (no prepare) creates the journal 0600 even under umask 000."""
    os.umask(0)
    journal = Journal.open(tmp_path / "state")
    try:
        assert mode(tmp_path / "state" / "journal.sqlite3") == 0o600
        assert mode(tmp_path / "state" / "journal.sqlite3-wal") == 0o600
    finally:
        journal.close()


def test_a_state_dir_others_can_read_is_tightened_with_a_warning(tmp_path: Path) -> None:
    """A 0755 state_dir and 0644 journal files are made 0700/0600, each with a warning."""
    state = tmp_path / "state"
    Journal.open(state).close()
    os.chmod(state, 0o755)
    os.chmod(state / "journal.sqlite3", 0o644)
    warnings = prepare_state_dir(state)
    assert mode(state) == 0o700
    assert mode(state / "journal.sqlite3") == 0o600
    assert len(warnings) == 2
    assert f"state_dir {state} could be read by others (mode 0755)" in warnings[0]
    assert "journal.sqlite3 could be read by others (mode 0644)" in warnings[1]
    assert prepare_state_dir(state) == []


def test_a_state_dir_that_is_a_file_is_refused_plainly(tmp_path: Path) -> None:
    """A file where state_dir should be gives 'is not a folder' and the fix."""
    (tmp_path / "state").write_text("oops", encoding="utf-8")
    with pytest.raises(StateUnavailable) as caught:
        prepare_state_dir(tmp_path / "state")
    assert str(caught.value) == (f"state_dir {tmp_path / 'state'} is not a folder (move that "
                                 "file away, or choose another state_dir)")


# ---- unusable folders -----------------------------------------------------------------------


def test_a_read_only_state_dir_is_refused_with_the_fix(tmp_path: Path) -> None:
    """A state_dir on a read-only mount raises StateUnavailable naming it and what to do."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    with read_only(state), pytest.raises(StateUnavailable) as caught:
        prepare_state_dir(state)
    assert caught.value.message == f"state_dir {state} is on a read-only filesystem"
    assert "choose another state_dir" in caught.value.hint


def test_a_full_state_dir_is_refused_with_the_fix(tmp_path: Path) -> None:
    """A state_dir on a full disk raises StateUnavailable saying it is full, before any lock."""
    with full_tmpfs(tmp_path / "disk") as disk, pytest.raises(StateUnavailable) as caught:
        prepare_state_dir(disk / "state")
    assert caught.value.message == f"state_dir {tmp_path / 'disk' / 'state'} is full (no space " \
        "left on its disk)"
    assert "free some space there" in caught.value.hint


def test_sqlite_saying_disk_full_becomes_the_same_plain_error(tmp_path: Path) -> None:
    """Creating a journal on a full disk: SQLite's 'database or disk is full' is explained."""
    with full_tmpfs(tmp_path / "disk") as disk, pytest.raises(StateUnavailable) as caught:
        open_journal(disk)
    assert caught.value.message == f"state_dir {disk} is full (no space left on its disk)"


# ---- damaged journal --------------------------------------------------------------------------


def test_a_journal_that_is_not_sqlite_is_named_with_how_to_set_it_aside(tmp_path: Path) -> None:
    """Garbage in journal.sqlite3 raises JournalDamaged with the mv command and reassurance."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "journal.sqlite3").write_bytes(b"this is not a database " * 200)
    with pytest.raises(JournalDamaged) as caught:
        open_journal(state)
    assert caught.value.message == (f"the journal {state / 'journal.sqlite3'} is damaged "
                                    "(file is not a database)")
    assert f"cd {state} && mv journal.sqlite3 journal.sqlite3.corrupt" in caught.value.hint
    assert "files on the share are where they were" in caught.value.hint
    assert (state / "journal.sqlite3").read_bytes().startswith(b"this is not")


def test_a_journal_damaged_inside_is_found_by_the_quick_check(tmp_path: Path) -> None:
    """A journal whose pages were overwritten is reported damaged at open, not mid-run."""
    state = tmp_path / "state"
    journal = Journal.open(state)
    for n in range(400):
        journal.event("inbox", "done", file=f"file-{n}.mp4", detail="x" * 200)
    journal.close()
    path = state / "journal.sqlite3"
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(2 * page, len(data) - page, 3 * page):  # keep the header page
        data[start + 8:start + page] = b"\xa5" * (page - 8)
    path.write_bytes(bytes(data))
    with pytest.raises(JournalDamaged) as caught:
        open_journal(state)
    assert caught.value.message.startswith(f"the journal {path} is damaged (")
    assert "mv journal.sqlite3 journal.sqlite3.corrupt" in caught.value.hint


def test_a_sound_journal_opens_read_only_too(tmp_path: Path) -> None:
    """open_journal(readonly=True) opens a healthy journal and reads it."""
    Journal.open(tmp_path / "state").close()
    journal = open_journal(tmp_path / "state", readonly=True)
    try:
        assert journal.quick_check() == []
    finally:
        journal.close()


# ---- one process ------------------------------------------------------------------------------


def test_the_lock_names_its_holder_and_a_second_taker_is_refused(tmp_path: Path) -> None:
    """A second acquire is refused with the first holder's pid, command and start time."""
    state = tmp_path / "state"
    prepare_state_dir(state)
    first = StateLock.acquire(state, "run", clock=lambda: T0)
    try:
        assert mode(state / "lock") == 0o600
        assert read_holder(state) == Holder(os.getpid(), "run", socket.gethostname(), T0)
        assert is_locked(state)
        with pytest.raises(StateBusy) as caught:
            StateLock.acquire(state, "once")
        assert str(caught.value) == (
            f"another vodwatch (pid {os.getpid()}, `vodwatch run`, started 2026-11-30 10:00 "
            f"UTC) already uses state_dir {state} (stop it first, or give this one its own "
            "state_dir)")
        assert read_holder(state) == Holder(os.getpid(), "run", socket.gethostname(), T0)
    finally:
        first.release()
    assert not is_locked(state)
    assert (state / "lock").exists()  # never deleted
    with StateLock.acquire(state, "once") as second:
        assert second.held
        holder = read_holder(state)
        assert holder is not None and holder.command == "once"


def test_a_holder_on_another_host_is_named_with_its_host() -> None:
    """The description of a holder on another machine says which machine."""
    holder = Holder(77, "once", "other-box", T0)
    assert holder.describe() == "pid 77 on other-box, `vodwatch once`, started 2026-11-30 10:00 UTC"


_HOLD = """
import sys, time
from pathlib import Path
from vodwatch.state import StateLock
lock = StateLock.acquire(Path(sys.argv[1]), "run")
print("held", flush=True)
time.sleep(600)
"""


def test_kill_9_of_the_holder_frees_the_lock(tmp_path: Path) -> None:
    """The kernel drops the lock of a process killed with SIGKILL; the next one takes it."""
    state = tmp_path / "state"
    prepare_state_dir(state)
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(state)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(StateBusy) as caught:
            StateLock.acquire(state, "once")
        assert f"pid {proc.pid}, `vodwatch run`" in caught.value.message
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    deadline = time.monotonic() + 10
    while is_locked(state) and time.monotonic() < deadline:
        time.sleep(0.05)
    with StateLock.acquire(state, "run") as lock:
        assert lock.holder.pid == os.getpid()


def test_the_state_disk_fault_status_reports(tmp_path: Path) -> None:
    """status's look at the state disk: a normal folder is fine, a read-only mount and a
    full disk are named (real mounts)."""
    plain = tmp_path / "plain"
    plain.mkdir()
    assert disk_fault(plain) is None
    with read_only(plain):
        assert disk_fault(plain) == f"{plain} is on a read-only filesystem"
    with full_tmpfs(tmp_path / "full", size="1m") as full:
        assert disk_fault(full) == f"{full} is full (no space left on its disk)"
    assert disk_fault(tmp_path / "missing") == (f"{tmp_path / 'missing'} cannot be read "
                                                "(No such file or directory)")

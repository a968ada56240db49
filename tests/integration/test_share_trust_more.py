"""One file's fault is not the share's, and the share's faults never escape as a crash.

Real folders and a real journal; the faults a network share gives (EIO for one file,
a connection lost) are injected at the one look that meets them.
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.clock import FakeClock
from tests.integration.test_folder import make_watch
from tests.integration.test_upgrade import _legacy_claim, _legacy_folder
from tests.mounts import umount
from vodwatch import folder as folder_module
from vodwatch import look as look_module
from vodwatch import watch as watch_module
from vodwatch.claim import Claims
from vodwatch.folder import FolderWatch
from vodwatch.recovery import Recovery

A1 = "a1" * 16
A2 = "b2" * 16


def _watch(tmp_path: Path) -> FolderWatch:
    watch = make_watch(tmp_path, "polling")
    assert watch.open_share()
    return watch


def _drop(watch: FolderWatch, *names: str) -> list[Path]:
    paths = [watch.folder_set.inbox / name for name in names]
    for path in paths:
        path.write_bytes(b"video bytes")
    return paths


def _failing_look(monkeypatch: pytest.MonkeyPatch, bad: Path, code: int) -> None:
    real = look_module.stat_entry

    def stat_entry(path: Path) -> Any:
        if path == bad:
            raise OSError(code, os.strerror(code), str(path))
        return real(path)

    monkeypatch.setattr(look_module, "stat_entry", stat_entry)


def test_one_unreadable_file_is_skipped_with_a_reason_and_the_others_carry_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EIO on one file's fresh look: that file is shown as not handled, the other settles,
    the folder set stays available, nothing raises."""
    watch = _watch(tmp_path)
    bad, good = _drop(watch, f"{A1}.mp4", f"{A2}.mp4")
    _failing_look(monkeypatch, bad, errno.EIO)
    assert watch.tick(100.0) == []
    assert watch.tick(101.0) == [good]
    assert watch.available
    assert "cannot be read" in watch.skipped[bad.name]
    assert watch.tick(102.0) == [good]  # a full scan keeps the reason shown
    assert "cannot be read" in watch.skipped[bad.name]
    monkeypatch.undo()  # readable again: it settles and the reason goes
    watch.tick(103.0)
    assert sorted(watch.tick(104.0)) == sorted([bad, good])
    watch.tick(105.0)
    assert bad.name not in watch.skipped
    watch.journal.close()


@pytest.mark.parametrize("code", [errno.ENOTCONN, errno.EHOSTDOWN])
def test_a_lost_connection_on_one_look_makes_the_folder_set_unavailable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """An SMB drop meets one file first: the whole folder set waits, with the cause."""
    watch = _watch(tmp_path)
    bad, _ = _drop(watch, f"{A1}.mp4", f"{A2}.mp4")
    _failing_look(monkeypatch, bad, code)
    watch.tick(100.0)
    assert watch.tick(101.0) == []
    assert watch.unavailable is not None and "does not answer" in watch.unavailable
    assert os.strerror(code) in watch.unavailable
    watch.journal.close()


def test_eio_on_one_file_while_the_inbox_itself_fails_is_the_shares_fault(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EIO on a file and on the share's hidden folder too: the share is in trouble."""
    watch = _watch(tmp_path)
    bad, _ = _drop(watch, f"{A1}.mp4", f"{A2}.mp4")
    _failing_look(monkeypatch, bad, errno.EIO)
    real_listdir = os.listdir

    def listdir(path: Any) -> list[str]:
        if str(path).endswith(".vodwatch"):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))
        return real_listdir(path)

    watch.tick(100.0)
    monkeypatch.setattr(look_module.os, "listdir", listdir)
    assert watch.tick(101.0) == []
    assert watch.unavailable is not None and "Input/output error" in watch.unavailable
    watch.journal.close()


class _Entry:
    """A directory entry whose attributes cannot be read (EIO), as on a bad share block."""

    def __init__(self, real: os.DirEntry[str]) -> None:
        self._real = real
        self.name, self.path = real.name, real.path

    def stat(self, follow_symlinks: bool = True) -> os.stat_result:
        raise OSError(errno.EIO, os.strerror(errno.EIO), self.path)


def test_a_scan_that_cannot_read_one_entry_carries_on_with_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The directory scan meets EIO on one entry: it is skipped with a reason, not the share."""
    watch = _watch(tmp_path)
    bad, good = _drop(watch, f"{A1}.mp4", f"{A2}.mp4")
    real_scandir = os.scandir

    class Scandir:
        def __init__(self, path: Any) -> None:
            self._it = real_scandir(path)

        def __enter__(self) -> Scandir:
            return self

        def __exit__(self, *exc: object) -> None:
            self._it.close()

        def __iter__(self) -> Any:
            for entry in self._it:
                yield _Entry(entry) if entry.path == str(bad) else entry

    monkeypatch.setattr(watch_module.os, "scandir", Scandir)
    watch.tick(100.0)
    monkeypatch.undo()
    assert watch.available
    assert "cannot be read" in watch.skipped[bad.name]
    assert good in watch.entries and bad not in watch.entries
    watch.journal.close()


def test_a_pause_file_hint_that_cannot_be_read_does_not_raise(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A change event for PAUSE whose look fails with EIO is ignored, never raised."""
    watch = _watch(tmp_path)
    pause = watch.folder_set.inbox / "PAUSE"
    pause.write_text("")

    def is_file(self: Path) -> bool:
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(self))

    monkeypatch.setattr(folder_module.Path, "is_file", is_file)
    watch.hint(pause)
    monkeypatch.undo()
    assert pause not in watch.pause_files
    watch.journal.close()


def _book(watch: FolderWatch) -> tuple[Recovery, Any]:
    runtime = SimpleNamespace(folder_set=watch.folder_set, watch=watch, claims=watch.claims)
    book = SimpleNamespace(journal=watch.journal, sets={watch.folder_set.name: runtime},
                           config=SimpleNamespace(claims=SimpleNamespace(instance_id="me")),
                           job_folder={}, waiting={}, running={})
    return Recovery(book), runtime


def test_keep_lease_when_the_share_cannot_say_whether_our_tickets_are_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """lost_tickets meets EACCES: the folder set is unavailable with the cause; no raise."""
    watch = _watch(tmp_path)
    recovery, runtime = _book(watch)

    def is_dir(self: Path) -> bool:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(type(watch.claims.mine), "is_dir", is_dir)
    recovery.keep_lease(runtime)
    monkeypatch.undo()
    assert watch.unavailable is not None and "may not write" in watch.unavailable
    recovery.keep_lease(runtime)  # the fault cleared: nothing else happens
    watch.journal.close()


# ---- 0.1 leftovers, per folder set ----------------------------------------------------


def test_hidden_0_1_files_come_back_on_every_folder_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two folder sets: the first has no 0.1 leftovers, the second holds a file a dead 0.1
    daemon hid. Being done with the first must not stop the second's from coming back."""
    clock = FakeClock()
    watches = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        watch = _watch(tmp_path / name)
        watch.claims = Claims(watch.folder_set.inbox, "me-1", 10.0, clock=clock)
        watch.claims.prepare()
        watches.append(watch)
    hidden = _legacy_claim(_legacy_folder(watches[1].folder_set.inbox, "hostB"), 7,
                           f"{A2}.mp4", b"theirs")
    recovery, first = _book(watches[0])
    second = SimpleNamespace(folder_set=watches[1].folder_set, watch=watches[1],
                             claims=watches[1].claims)
    recovery.book.sets[watches[1].folder_set.name] = second
    for _ in range(4):  # the dead 0.1 daemon's lease stays unchanged for a lease
        recovery.keep_lease(first)
        recovery.keep_lease(second)
        clock.now += 5.0
    assert not hidden.exists()
    assert (watches[1].folder_set.inbox / f"{A2}.mp4").read_bytes() == b"theirs"
    for watch in watches:
        watch.journal.close()


# ---- stale tickets --------------------------------------------------------------------


def _job(watch: FolderWatch, asset: str, state: str) -> int:
    job_id, _ = watch.journal.create_job(watch.folder_set.name, asset, False, [])
    watch.journal.set_job(job_id, state=state)
    watch.claims.write_ticket(job_id, watch.ticket(job_id))
    return job_id


def test_recovery_keeps_the_tickets_of_unfinished_jobs_and_drops_every_other(
        tmp_path: Path) -> None:
    """Tickets of ours on the share: the one of an unfinished job stays; one whose job
    ended, one of another journal's job with the same id, and an unreadable one go."""
    watch = _watch(tmp_path)
    running, ended = _job(watch, A1, "claimed"), _job(watch, A2, "abandoned")
    recovery, runtime = _book(watch)
    mine = watch.claims.mine
    other = watch.ticket(running)
    other["job"] = {**other["job"], "id": 77, "created_at": other["job"]["created_at"] - 3600}
    (mine / "77.json").write_text(json.dumps(other))  # a job no journal of ours has
    (mine / "78.json").write_text("{not json")
    (mine / "notes.txt").write_text("not a ticket")
    recovery.recover_share(runtime)
    assert sorted(p.name for p in mine.iterdir()) == sorted([f"{running}.json", "notes.txt"])
    assert ended and watch.available
    watch.journal.close()


def test_recovery_drops_a_ticket_whose_id_a_new_journal_reused(tmp_path: Path) -> None:
    """The journal moved aside: the new one's job 1 is not the ticket's job 1."""
    watch = _watch(tmp_path)
    job_id = _job(watch, A1, "claimed")
    ticket = watch.ticket(job_id)
    ticket["job"]["created_at"] += 1.5
    (watch.claims.mine / f"{job_id}.json").write_text(json.dumps(ticket))
    recovery, runtime = _book(watch)
    recovery.recover_share(runtime)
    assert not (watch.claims.mine / f"{job_id}.json").exists()
    watch.journal.close()


# ---- inodes that are not kept -----------------------------------------------------------


def test_a_folder_set_whose_inodes_change_on_every_look_still_settles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every look (scan or fresh) gives the file a new inode number, as on a FUSE or
    `noserverino` mount: the file settles anyway, and the log says why once."""
    watch = _watch(tmp_path)
    (path,) = _drop(watch, f"{A1}.mp4")
    numbers = itertools.count(1000)
    real_scan, real_stat = folder_module.scan, look_module.stat_entry

    def scan(*args: Any, **kwargs: Any) -> Any:
        return [dataclasses.replace(e, ino=next(numbers)) for e in real_scan(*args, **kwargs)]

    def stat_entry(p: Path) -> Any:
        entry = real_stat(p)
        return entry and dataclasses.replace(entry, ino=next(numbers))

    monkeypatch.setattr(folder_module, "scan", scan)
    monkeypatch.setattr(look_module, "stat_entry", stat_entry)
    ready: list[Path] = []
    with capture_logs() as logs:
        for step in range(12):
            ready = watch.tick(100.0 + step * 0.5)
            if ready:
                break
    assert ready == [path]
    assert [e["event"] for e in logs].count("share.inodes_unstable") == 1
    watch.journal.close()


def test_on_a_fuse_mount_that_keeps_inodes_the_inode_still_counts(
        tmp_path: Path) -> None:
    """bindfs (FUSE) keeps the inode numbers of the folder it shows: files settle, and the
    inode is never dropped from the comparison there."""
    if shutil.which("bindfs") is None:
        pytest.skip("bindfs is not installed (Debian package bindfs): no FUSE mount to try")
    backing, shown = tmp_path / "backing", tmp_path / "shown"
    backing.mkdir()
    shown.mkdir()
    run = subprocess.run(["bindfs", str(backing), str(shown)], capture_output=True,
                         text=True, check=False)
    if run.returncode != 0:
        pytest.skip(f"cannot mount with bindfs here: {run.stderr.strip()}")
    try:
        watch = make_watch(shown, "polling", state=tmp_path / "state")
        assert watch.open_share()
        (path,) = _drop(watch, f"{A1}.mp4")
        ready: list[Path] = []
        with capture_logs() as logs:
            for step in range(12):
                ready = watch.tick(100.0 + step * 0.5)
                if ready:
                    break
        assert ready == [path]
        assert watch.settler.use_inode is True
        assert "share.inodes_unstable" not in [e["event"] for e in logs]
        watch.journal.close()
    finally:
        umount(shown)


# ---- a share away at start --------------------------------------------------------------


def test_recovery_of_a_share_that_fails_half_way_is_tried_again_when_it_is_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Away at start, back, gone again in the middle of its recovery, back again: the
    recovery runs once more, and only then is the 0.1 journal called migrated."""
    watch = _watch(tmp_path)
    watch.journal.set_meta("legacy_claims", "1")
    recovery, _ = _book(watch)
    inbox = watch.folder_set.inbox
    os.rename(inbox, tmp_path / "away")
    recovery.recover()
    assert not watch.available and watch.on_back is not None
    os.rename(tmp_path / "away", inbox)
    calls = []

    def release_all_locks() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(inbox))

    monkeypatch.setattr(watch.claims, "release_all_locks", release_all_locks)
    assert watch.open_share() is False
    assert watch.unavailable is not None and "Input/output error" in watch.unavailable
    assert watch.journal.get_meta("legacy_claims")
    assert watch.open_share() is True
    assert len(calls) == 2 and watch.on_back is None
    assert watch.journal.get_meta("legacy_claims") is None
    assert watch.open_share() is True and len(calls) == 2  # once is enough
    watch.journal.close()


def test_a_folder_set_added_while_its_share_was_away_is_recovered_once_it_is_here(
        tmp_path: Path) -> None:
    """A folder set added by a reload while its share was away never had its recovery:
    the lease keeping does it once the share is here (a stale marker of ours goes)."""
    watch = _watch(tmp_path)
    (path,) = _drop(watch, f"{A1}.mp4")
    marker = watch.claims.claim(path, 41)  # a job of ours no journal holds any more
    assert marker is not None and marker.exists()
    recovery, runtime = _book(watch)
    recovery.keep_lease(runtime)
    assert not marker.exists()
    watch.claims.claim(path, 42)
    recovery.keep_lease(runtime)  # once only: later markers are left alone
    assert watch.claims.is_claimed(path)
    watch.journal.close()

"""FolderWatch: the watch mode it picks, and polling when change events cannot be had."""

from __future__ import annotations

import ctypes
import os
import queue
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from vodwatch.claim import Claims
from vodwatch.config import FolderSet
from vodwatch.folder import FolderWatch
from vodwatch.journal import Journal
from vodwatch.names import DEFAULT_LANGUAGE_MAP

PID = "0123456789abcdef0123456789abcdef"


def make_watch(tmp_path: Path, watch: str, state: Path | None = None) -> FolderWatch:
    folders = {n: tmp_path / n for n in ("inbox", "done", "failed")}
    for f in folders.values():
        f.mkdir(exist_ok=True)
    folder_set = FolderSet(folders["inbox"], folders["done"], folders["failed"], "http://127.0.0.1:1",
                   PID, watch, False)
    journal = Journal.open(state or tmp_path / "state")
    claims = Claims(folder_set.inbox, "me", 60)
    claims.prepare()
    return FolderWatch(folder_set, journal, claims, 0.5, 3600, 1, 60, DEFAULT_LANGUAGE_MAP,
                       queue.Queue())


@pytest.fixture
def inotify_exhausted() -> Iterator[None]:
    """Use up this user's inotify instances for the duration of a test."""
    if not sys.platform.startswith("linux"):
        pytest.skip("inotify is Linux only")
    libc = ctypes.CDLL(None, use_errno=True)
    fds: list[int] = []
    try:
        while len(fds) < 4096:
            fd = libc.inotify_init1(os.O_CLOEXEC)
            if fd < 0:
                break
            fds.append(fd)
        else:
            pytest.skip("could not exhaust inotify instances (limit above 4096)")
        yield
    finally:
        for fd in fds:
            os.close(fd)


def test_events_mode_on_a_local_folder(tmp_path: Path) -> None:
    """`watch: events` on a local folder watches with inotify."""
    watch = make_watch(tmp_path, "events")
    watch.start()
    try:
        assert watch.mode == "events"
    finally:
        watch.stop()


def test_polling_mode_is_used_when_asked(tmp_path: Path) -> None:
    """`watch: polling` never starts an event watcher."""
    watch = make_watch(tmp_path, "polling")
    watch.start()
    assert watch.mode == "polling" and "config" in watch.mode_why
    watch.stop()


def test_inotify_limit_reached_falls_back_to_polling(tmp_path: Path,
                                                    inotify_exhausted: None) -> None:
    """With no inotify instance left, the folder is polled and a warning says why."""
    watch = make_watch(tmp_path, "events")
    with capture_logs() as logs:
        watch.start()
    try:
        assert watch.mode == "polling"
        assert "polling instead" in watch.mode_why
        assert any(e["event"] == "watch.fallback_polling" and e["log_level"] == "warning"
                   for e in logs)
    finally:
        watch.stop()


def test_a_full_share_is_not_called_available_again_until_space_is_freed(
        tmp_path: Path) -> None:
    """On a real full tmpfs an empty file still fits (an inode, no space). The probe that
    decides whether the share is back must write bytes, or a full share flaps between
    unavailable and available (found in CI: /healthz said unavailable, `status` not)."""
    from tests.mounts import fill, tmpfs
    with tmpfs(tmp_path / "share", "1m") as share:
        watch = make_watch(share, "polling", state=tmp_path / "state")
        assert watch.open_share() is True
        fill(share / "filler")
        empty = share / "done" / "empty-file-still-fits"
        empty.touch()  # the trap the old probe fell into
        assert watch.open_share() is False
        assert watch.unavailable is not None and "the share is full" in watch.unavailable
        assert watch.open_share() is False  # asked again: still full, no flapping
        (share / "filler").unlink()
        assert watch.open_share() is True and watch.unavailable is None
        assert not [p for p in (share / "done").iterdir() if ".vodwatch-probe" in p.name]
        watch.journal.close()

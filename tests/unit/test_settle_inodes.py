"""Settling where the filesystem does not keep inode numbers (FUSE, SMB `noserverino`)."""

from __future__ import annotations

from vodwatch.settle import Settler

SETTLE = 10.0


def test_a_file_whose_inode_changes_on_every_look_still_settles() -> None:
    """Same size, mtime and ctime under a new inode at each look: that look still counts
    as a change (the safe side), then the inode stops counting for the folder set (said
    once), and the file settles."""
    s: Settler[str] = Settler(SETTLE, 3600.0)
    assert s.observe("a.mp4", 100, 5, now=0.0, ino=11, ctime_ns=7) is False
    assert s.observe("a.mp4", 100, 5, now=4.0, ino=12, ctime_ns=7) is True
    assert s.use_inode is False
    assert s.observe("a.mp4", 100, 5, now=8.0, ino=13, ctime_ns=7) is False  # said once
    assert s.observe("a.mp4", 100, 5, now=13.9, ino=14, ctime_ns=7) is False
    assert s.ready(13.9) == []
    s.observe("a.mp4", 100, 5, now=14.0, ino=15, ctime_ns=7)
    assert s.ready(14.0) == ["a.mp4"]
    assert s.pending()["a.mp4"].changes == 1


def test_once_inodes_are_unstable_other_files_settle_too_and_writes_still_count() -> None:
    """Every file of the folder set then settles without the inode; a write (size, mtime or
    ctime) still restarts the clock."""
    s: Settler[str] = Settler(SETTLE, 3600.0)
    s.observe("a.mp4", 100, 5, now=-1.0, ino=1, ctime_ns=7)
    s.observe("a.mp4", 100, 5, now=0.0, ino=2, ctime_ns=7)  # inodes found unstable
    s.observe("b.mp4", 100, 5, now=0.0, ino=3, ctime_ns=7)
    s.observe("b.mp4", 100, 5, now=5.0, ino=4, ctime_ns=8)  # written: ctime moved
    s.observe("b.mp4", 100, 5, now=10.0, ino=5, ctime_ns=8)
    s.observe("a.mp4", 100, 5, now=10.0, ino=6, ctime_ns=7)
    assert s.ready(10.0) == ["a.mp4"]
    s.observe("b.mp4", 100, 5, now=15.0, ino=7, ctime_ns=8)
    assert sorted(s.ready(15.0)) == ["a.mp4", "b.mp4"]


def test_stable_inodes_keep_counting() -> None:
    """A filesystem that keeps inodes: a file replaced (new inode, new ctime) waits again,
    and the inode keeps counting."""
    s: Settler[str] = Settler(SETTLE, 3600.0)
    s.observe("a.mp4", 100, 5, now=0.0, ino=1, ctime_ns=7)
    assert s.observe("a.mp4", 100, 5, now=9.0, ino=2, ctime_ns=9) is False
    s.observe("a.mp4", 100, 5, now=12.0, ino=2, ctime_ns=9)
    assert s.ready(12.0) == [] and s.use_inode is True
    s.observe("a.mp4", 100, 5, now=19.0, ino=2, ctime_ns=9)
    assert s.ready(19.0) == ["a.mp4"]


def test_without_a_ctime_a_new_inode_is_a_replaced_file() -> None:
    """With no change time known, a new inode cannot be told from a replacement: it waits."""
    s: Settler[str] = Settler(SETTLE, 3600.0)
    s.observe("a.mp4", 100, 5, now=0.0, ino=1)
    assert s.observe("a.mp4", 100, 5, now=10.0, ino=2) is False
    assert s.ready(10.0) == [] and s.use_inode is True

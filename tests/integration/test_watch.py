"""Watching on real folders: mount table lookups, scans, stats, and real watchdog events."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vodwatch.claim import STATE_DIR_NAME
from vodwatch.watch import (
    DIR,
    FILE,
    SPECIAL,
    SYMLINK,
    Entry,
    EventWatcher,
    choose_mode,
    filesystem_type,
    scan,
    stat_entry,
)


def _mounts(tmp_path: Path, *lines: str) -> str:
    """A mount table file in /proc/self/mounts format."""
    path = tmp_path / "mounts"
    path.write_text("".join(f"{line}\n" for line in lines))
    return str(path)


@pytest.fixture
def share(tmp_path: Path) -> Path:
    """A folder standing for a mount point, resolved like the code resolves it."""
    path = tmp_path / "share"
    (path / "inbox").mkdir(parents=True)
    return Path(os.path.realpath(path))


@pytest.mark.parametrize("fstype", ["nfs4", "cifs", "fuse.sshfs", "smb3", "9p"])
def test_network_and_fuse_filesystems_are_polled(tmp_path: Path, share: Path,
                                                 fstype: str) -> None:
    """auto picks polling for an inbox on a network or FUSE mount."""
    mounts = _mounts(tmp_path, "/dev/sda1 / ext4 rw 0 0",
                     f"server:/export {share} {fstype} rw 0 0")
    assert filesystem_type(share / "inbox", mounts) == fstype
    mode, why = choose_mode("auto", share / "inbox", mounts)
    assert mode == "polling"
    assert fstype in why


def test_a_local_filesystem_gets_events(tmp_path: Path, share: Path) -> None:
    """auto picks events for an inbox on ext4 and says which filesystem it saw."""
    mounts = _mounts(tmp_path, "/dev/sda1 / ext4 rw 0 0")
    assert choose_mode("auto", share / "inbox", mounts) == (
        "events", "the inbox is on a local ext4 filesystem")


@pytest.mark.parametrize("setting", ["events", "polling"])
def test_an_explicit_setting_wins_over_the_filesystem(tmp_path: Path, share: Path,
                                                      setting: str) -> None:
    """watch: events or polling in the config is used whatever the mount type."""
    for fstype in ("nfs4", "ext4"):
        mounts = _mounts(tmp_path, f"server:/x {share} {fstype} rw 0 0")
        assert choose_mode(setting, share / "inbox", mounts)[0] == setting


def test_the_longest_matching_mount_point_wins(tmp_path: Path, share: Path) -> None:
    """A local folder inside an NFS mount, mounted again as ext4, is local; siblings are not."""
    (share / "inbox-2").mkdir()
    mounts = _mounts(tmp_path, "/dev/sda1 / ext4 rw 0 0",
                     f"/dev/sdb1 {share}/inbox ext4 rw 0 0",
                     f"server:/x {share} nfs4 rw 0 0")
    assert filesystem_type(share / "inbox", mounts) == "ext4"
    assert filesystem_type(share / "inbox-2", mounts) == "nfs4"  # not a prefix match
    assert filesystem_type(share, mounts) == "nfs4"


def test_a_later_mount_on_the_same_point_hides_the_earlier(tmp_path: Path,
                                                           share: Path) -> None:
    """Two mounts on one point: the last one listed is what the inbox is on."""
    mounts = _mounts(tmp_path, f"/dev/sdb1 {share} ext4 rw 0 0",
                     f"server:/x {share} cifs rw 0 0")
    assert filesystem_type(share / "inbox", mounts) == "cifs"


def test_escaped_spaces_in_mount_points_are_understood(tmp_path: Path) -> None:
    """A mount point with a space (written \\040 in the table) still matches."""
    spaced = tmp_path / "my share"
    spaced.mkdir()
    real = os.path.realpath(spaced)
    mounts = _mounts(tmp_path, "/dev/sda1 / ext4 rw 0 0",
                     f"//nas/x {real.replace(' ', chr(92) + '040')} cifs rw 0 0")
    assert filesystem_type(spaced, mounts) == "cifs"


def test_an_unreadable_mount_table_means_unknown_and_events(tmp_path: Path,
                                                            share: Path) -> None:
    """Without a mount table the type is '' and auto falls back to events."""
    missing = str(tmp_path / "no-such-mounts")
    assert filesystem_type(share, missing) == ""
    assert choose_mode("auto", share, missing) == (
        "events", "the inbox is on a local unknown filesystem")


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


def test_scan_lists_files_with_one_stat_each_and_skips_our_folder(inbox: Path) -> None:
    """scan yields files, hidden files and folders, but never the .vodwatch state folder."""
    (inbox / "a.mp4").write_bytes(b"12345")
    (inbox / ".hidden").write_bytes(b"")
    (inbox / "sub").mkdir()
    (inbox / "sub" / "deep.mp4").write_bytes(b"x")
    (inbox / STATE_DIR_NAME / "claims").mkdir(parents=True)
    (inbox / "link.mp4").symlink_to(inbox / "a.mp4")
    entries = {e.name: e for e in scan(inbox)}
    assert set(entries) == {"a.mp4", ".hidden", "sub", "link.mp4"}
    a = entries["a.mp4"]
    st = os.stat(inbox / "a.mp4")
    assert (a.path, a.size, a.mtime_ns, a.ino) == (inbox / "a.mp4", 5, st.st_mtime_ns,
                                                   st.st_ino)
    assert (a.is_file, a.is_symlink, a.is_dir) == (True, False, False)
    assert entries["sub"].is_dir and not entries["sub"].is_file
    assert entries["link.mp4"].is_symlink and not entries["link.mp4"].is_file


def test_recursive_scan_enters_subfolders_but_not_hidden_ones(inbox: Path) -> None:
    """With recursion, visible sub-folders are scanned; hidden ones and .vodwatch are not."""
    (inbox / "a" / "b").mkdir(parents=True)
    (inbox / "a" / "b" / "deep.mp4").write_bytes(b"x")
    (inbox / ".cache").mkdir()
    (inbox / ".cache" / "inner.mp4").write_bytes(b"x")
    (inbox / STATE_DIR_NAME / "claims" / "host").mkdir(parents=True)
    (inbox / STATE_DIR_NAME / "claims" / "host" / "1.x.mp4").write_bytes(b"x")
    paths = {e.path.relative_to(inbox).as_posix() for e in scan(inbox, recursive=True)}
    assert paths == {"a", "a/b", "a/b/deep.mp4", ".cache"}


def test_scan_of_a_missing_inbox_raises(tmp_path: Path) -> None:
    """A gone inbox (share unmounted) raises OSError instead of looking empty."""
    with pytest.raises(OSError):
        list(scan(tmp_path / "gone"))


def test_scan_of_an_empty_inbox_is_empty(inbox: Path) -> None:
    """An inbox with nothing in it yields nothing and raises nothing."""
    assert list(scan(inbox, recursive=True)) == []


def test_stat_entry_sees_files_folders_and_links_and_none_when_gone(inbox: Path) -> None:
    """stat_entry describes a path without following links; None once it is gone."""
    f = inbox / "v.mp4"
    f.write_bytes(b"abc")
    (inbox / "l.mp4").symlink_to(inbox / "nowhere")
    e = stat_entry(f)
    assert e is not None and (e.name, e.size, e.is_file, e.is_dir) == ("v.mp4", 3, True, False)
    link = stat_entry(inbox / "l.mp4")
    assert link is not None and link.is_symlink and not link.is_file
    folder = stat_entry(inbox)
    assert folder is not None and folder.is_dir
    f.unlink()
    assert stat_entry(f) is None
    assert stat_entry(inbox / "v.mp4" / "under-a-file") is None


def test_entries_say_their_kind_and_carry_ctime(inbox: Path) -> None:
    """Files, folders, links and FIFOs each get their kind; ctime is the file's own."""
    (inbox / "a.mp4").write_bytes(b"x")
    (inbox / "sub").mkdir()
    (inbox / "link.mp4").symlink_to(inbox / "a.mp4")
    os.mkfifo(inbox / "pipe.mp4")
    kinds = {e.name: e.kind for e in scan(inbox)}
    assert kinds == {"a.mp4": FILE, "sub": DIR, "link.mp4": SYMLINK, "pipe.mp4": SPECIAL}
    for e in (*scan(inbox), stat_entry(inbox / "a.mp4")):
        assert e is not None
        assert e.ctime_ns == os.lstat(e.path).st_ctime_ns


def test_scan_can_leave_folders_out_and_still_recurse(inbox: Path) -> None:
    """include_dirs=False drops folder entries but a recursive scan still enters them."""
    (inbox / "a" / "b").mkdir(parents=True)
    (inbox / "a" / "b" / "deep.mp4").write_bytes(b"x")
    (inbox / "top.mp4").write_bytes(b"x")
    names = {e.path.relative_to(inbox).as_posix()
             for e in scan(inbox, recursive=True, include_dirs=False)}
    assert names == {"top.mp4", "a/b/deep.mp4"}


def test_scan_entries_are_not_fresh_and_stat_entry_ones_are(inbox: Path) -> None:
    """Only stat_entry, which opens the file, gives attributes that may settle it."""
    (inbox / "a.mp4").write_bytes(b"x")
    (scanned,) = scan(inbox)
    assert not scanned.fresh
    looked = stat_entry(inbox / "a.mp4")
    assert looked is not None and looked.fresh and looked.kind == FILE


def test_stat_entry_never_blocks_on_a_fifo_nor_opens_it(inbox: Path) -> None:
    """A FIFO in the inbox is reported as special at once, with no writer attached."""
    fifo = inbox / "pipe.mp4"
    os.mkfifo(fifo)
    found: list[Entry | None] = []
    t = threading.Thread(target=lambda: found.append(stat_entry(fifo)), daemon=True)
    t.start()
    t.join(timeout=5)
    assert not t.is_alive(), "stat_entry blocked on a FIFO"
    (entry,) = found
    assert entry is not None and entry.kind == SPECIAL and not entry.is_file
    # Nobody holds the FIFO open: a non-blocking open for writing finds no reader.
    with pytest.raises(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can open any file")
def test_an_unreadable_file_is_still_seen(inbox: Path) -> None:
    """A file vodwatch may not open is still reported (from lstat), so it can be explained."""
    f = inbox / "secret.mp4"
    f.write_bytes(b"abc")
    f.chmod(0)
    try:
        e = stat_entry(f)
        assert e is not None and e.kind == FILE and e.size == 3 and e.fresh
    finally:
        f.chmod(0o600)


def test_stat_entry_sees_a_file_replaced_by_a_link(inbox: Path) -> None:
    """A link is never opened through: stat_entry reports the link itself."""
    (inbox / "target.mp4").write_bytes(b"abcdef")
    (inbox / "v.mp4").symlink_to(inbox / "target.mp4")
    e = stat_entry(inbox / "v.mp4")
    assert e is not None and e.kind == SYMLINK
    assert e.ino == os.lstat(inbox / "v.mp4").st_ino


@pytest.fixture
def watcher(inbox: Path) -> Iterator[tuple[EventWatcher, queue.Queue[Path]]]:
    hints: queue.Queue[Path] = queue.Queue()
    w = EventWatcher(inbox, False, hints)
    w.start()
    yield w, hints
    w.stop()


def _wait_hint(hints: queue.Queue[Path], wanted: Path, seen: list[Path],
               timeout: float = 10.0) -> None:
    """Drain hints into ``seen`` until ``wanted`` arrives or the time is up."""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no hint for {wanted} within {timeout}s; got {seen}")
        try:
            seen.append(hints.get(timeout=min(left, 0.2)))
        except queue.Empty:
            continue


def test_a_written_file_produces_a_hint(inbox: Path,
                                        watcher: tuple[EventWatcher, queue.Queue[Path]]
                                        ) -> None:
    """Creating and closing a file in the inbox puts its path on the queue."""
    w, hints = watcher
    assert w.alive
    target = inbox / "new.mp4"
    with open(target, "wb") as fh:
        fh.write(b"data")
    seen: list[Path] = []
    _wait_hint(hints, target, seen)


def test_a_file_moved_in_produces_a_hint_with_its_new_path(
        tmp_path: Path, inbox: Path, watcher: tuple[EventWatcher, queue.Queue[Path]]) -> None:
    """A file renamed into the inbox from elsewhere is hinted at its inbox path."""
    _, hints = watcher
    outside = tmp_path / "staging.mp4"
    outside.write_bytes(b"data")
    os.rename(outside, inbox / "moved.mp4")
    seen: list[Path] = []
    _wait_hint(hints, inbox / "moved.mp4", seen)


def test_changes_in_our_own_state_folder_produce_no_hints(
        inbox: Path, watcher: tuple[EventWatcher, queue.Queue[Path]]) -> None:
    """Writes under .vodwatch (claims, leases) are never hinted; the inbox file after is."""
    _, hints = watcher
    state = inbox / STATE_DIR_NAME
    state.mkdir()
    (state / ".lease").write_text("1")
    marker = inbox / "after.mp4"
    marker.write_bytes(b"x")
    seen: list[Path] = []
    _wait_hint(hints, marker, seen)
    assert not [p for p in seen if STATE_DIR_NAME in p.parts]
    assert state not in seen  # folder events are not hints either


def test_stop_ends_the_watcher(inbox: Path) -> None:
    """After stop the watcher is not alive and a second stop is harmless."""
    w = EventWatcher(inbox, True, queue.Queue())
    assert not w.alive
    w.start()
    assert w.alive
    w.stop()
    assert not w.alive
    w.stop()


def test_reading_attributes_produces_no_hints(inbox: Path) -> None:
    """Opening a file to re-read its attributes is no change: no hint, so no endless poke."""
    hints: queue.Queue[Path] = queue.Queue()
    w = EventWatcher(inbox, True, hints)  # recursive: the watchdog path, which sees opens
    w.start()
    try:
        target = inbox / "v.mp4"
        target.write_bytes(b"data")
        seen: list[Path] = []
        _wait_hint(hints, target, seen)
        time.sleep(0.3)
        while not hints.empty():
            hints.get()
        for _ in range(5):
            assert stat_entry(target) is not None
        marker = inbox / "marker.mp4"
        marker.write_bytes(b"x")
        seen = []
        _wait_hint(hints, marker, seen)
        assert target not in seen
    finally:
        w.stop()

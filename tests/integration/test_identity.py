"""A file's identity after hashing and before confirming (SPEC §3 "Ready"), on real files."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import write_bytes
from vodwatch.errors import FileChanged, FileVanished, MetadataChanged
from vodwatch.identity import (
    CONTENT,
    META,
    SAME,
    Snapshot,
    check_unchanged,
    compare,
    hash_file,
    rehash_matches,
)
from vodwatch.journal import FileRow, PartRow


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _row(path: Path, snap: Snapshot, md5: str | None = None) -> FileRow:
    """A journal row as the runner leaves it after hashing."""
    return FileRow(1, 1, path.name, "video", "", str(path), snap.size, snap.mtime_ns,
                   snap.ctime_ns, snap.ino, md5, None, None, None, None, None, None, 0, None,
                   None, "pending", None, None)


def _journaled(path: Path, size: int = 10_000) -> tuple[FileRow, bytes]:
    data = write_bytes(path, size)
    md5, snap = hash_file(path)
    time.sleep(0.02)  # a change next must get a later ctime where its clock is coarse (HZ=100)
    return _row(path, snap, md5), data


def _write_in_place_keeping_mtime(path: Path, offset: int, data: bytes) -> None:
    """What an SMB copy with preserved timestamps does: write, then put the mtime back."""
    st = os.stat(path)
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


BASE = Snapshot(size=100, mtime_ns=5, ctime_ns=6, ino=7)


@pytest.mark.parametrize(("now", "verdict"), [
    (BASE, SAME),
    (Snapshot(101, 5, 6, 7), CONTENT),
    (Snapshot(100, 4, 6, 7), CONTENT),
    (Snapshot(99, 5, 9, 7), CONTENT),
    (Snapshot(100, 8, 9, 8), CONTENT),
    (Snapshot(100, 5, 9, 7), META),
    (Snapshot(100, 5, 6, 8), META),
    (Snapshot(100, 5, 9, 8), META),
])
def test_compare_tells_content_from_metadata(now: Snapshot, verdict: str) -> None:
    """Size or mtime moved is "content"; only ctime and/or inode moved is "meta"."""
    assert compare(BASE, now) == verdict


def test_an_untouched_file_passes(tmp_path: Path) -> None:
    """A file nobody touched since hashing is as journaled."""
    row, _ = _journaled(tmp_path / "v.mp4")
    check_unchanged(tmp_path / "v.mp4", row)


def test_a_chmod_is_a_metadata_change_and_a_rehash_clears_it(tmp_path: Path) -> None:
    """chmod moves only ctime: MetadataChanged, and a new hash finds the same bytes."""
    path = tmp_path / "v.mp4"
    row, _ = _journaled(path)
    os.chmod(path, 0o640)
    with pytest.raises(MetadataChanged):
        check_unchanged(path, row)
    assert row.md5 is not None
    snap = rehash_matches(path, row.md5)
    assert snap is not None and snap.ctime_ns == os.stat(path).st_ctime_ns
    check_unchanged(path, _row(path, snap, row.md5))


def test_an_extended_attribute_is_a_metadata_change(tmp_path: Path) -> None:
    """A Finder tag (an xattr) moves only ctime: MetadataChanged, and the bytes still match."""
    path = tmp_path / "v.mp4"
    row, _ = _journaled(path)
    try:
        os.setxattr(path, "user.com.apple.metadata:_kMDItemUserTags", b"Red")
    except OSError as exc:
        pytest.skip(f"no user extended attributes here: {exc}")
    with pytest.raises(MetadataChanged):
        check_unchanged(path, row)
    assert row.md5 is not None and rehash_matches(path, row.md5) is not None


def test_an_in_place_write_with_the_mtime_put_back_fails_the_rehash(tmp_path: Path) -> None:
    """Same size and mtime yet other bytes: attributes say "meta", the rehash says no."""
    path = tmp_path / "v.mp4"
    row, _ = _journaled(path)
    _write_in_place_keeping_mtime(path, 5000, b"edited")
    st = os.stat(path)
    assert (st.st_size, st.st_mtime_ns) == (row.size, row.mtime_ns)
    with pytest.raises(MetadataChanged):
        check_unchanged(path, row)
    assert row.md5 is not None and rehash_matches(path, row.md5) is None


@pytest.mark.parametrize("change", ["append", "touch"])
def test_a_new_size_or_mtime_is_a_content_change(tmp_path: Path, change: str) -> None:
    """A longer file or a new mtime raises FileChanged itself, not MetadataChanged."""
    path = tmp_path / "v.mp4"
    row, _ = _journaled(path)
    if change == "append":
        with open(path, "ab") as fh:
            fh.write(b"more")
    else:
        os.utime(path, ns=(0, (row.mtime_ns or 0) + 1))
    with pytest.raises(FileChanged) as caught:
        check_unchanged(path, row)
    assert not isinstance(caught.value, MetadataChanged)


def test_a_row_without_a_snapshot_counts_as_changed(tmp_path: Path) -> None:
    """Nothing journaled yet cannot be "as journaled": FileChanged."""
    path = tmp_path / "v.mp4"
    row, _ = _journaled(path)
    bare = dataclasses.replace(row, size=None, mtime_ns=None, ctime_ns=None, ino=None)
    with pytest.raises(FileChanged):
        check_unchanged(path, bare)


def test_a_vanished_file_still_says_so(tmp_path: Path) -> None:
    """Snapshot.of, check_unchanged and rehash_matches raise FileVanished for a gone file."""
    path = tmp_path / "v.mp4"
    row, _ = _journaled(path)
    path.unlink()
    with pytest.raises(FileVanished):
        Snapshot.of(path)
    with pytest.raises(FileVanished):
        check_unchanged(path, row)
    with pytest.raises(FileVanished):
        rehash_matches(path, row.md5 or "")


def test_snapshot_of_a_fifo_does_not_block(tmp_path: Path) -> None:
    """A FIFO is looked at, never opened: its snapshot comes back at once."""
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    got: list[Snapshot] = []
    t = threading.Thread(target=lambda: got.append(Snapshot.of(fifo)), daemon=True)
    t.start()
    t.join(timeout=5)
    assert not t.is_alive() and got[0].ino == os.lstat(fifo).st_ino


def test_hash_file_does_not_follow_a_link(tmp_path: Path) -> None:
    """A link where the claimed file should be is a changed file, never read through."""
    write_bytes(tmp_path / "elsewhere.mp4", 100)
    (tmp_path / "v.mp4").symlink_to(tmp_path / "elsewhere.mp4")
    with pytest.raises(FileChanged):
        hash_file(tmp_path / "v.mp4")


def test_hash_file_sees_writes_that_keep_size_and_mtime(tmp_path: Path) -> None:
    """In-place writes with the mtime put back, during hashing, move ctime: FileChanged."""
    path = tmp_path / "big.mp4"
    write_bytes(path, 48 * 1024 * 1024)
    hashing = threading.Event()
    done = threading.Event()

    def writer() -> None:
        hashing.wait()
        while not done.is_set():
            _write_in_place_keeping_mtime(path, 1024, b"x")

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        hashing.set()
        with pytest.raises(FileChanged):
            hash_file(path)
    finally:
        done.set()
        t.join(timeout=10)


def test_hash_file_snapshot_is_that_of_the_bytes_read(tmp_path: Path) -> None:
    """The snapshot hash_file returns is the file's fresh state and the MD5 its bytes'."""
    path = tmp_path / "v.mp4"
    data = write_bytes(path, 5 * 1024 * 1024 + 3)
    md5, snap = hash_file(path)
    st = os.stat(path)
    assert md5 == _md5(data)
    assert snap == Snapshot(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    assert snap == Snapshot.of(path)


def _part_rows(data: bytes, part_size: int) -> list[PartRow]:
    return [PartRow(i + 1, len(data[o:o + part_size]), _md5(data[o:o + part_size]), "etag")
            for i, o in enumerate(range(0, len(data), part_size))]


@pytest.mark.parametrize("size", [0, 1, 256 * 1024, 9 * 1024 * 1024 + 5])
def test_rehash_checks_each_sent_part_too(tmp_path: Path, size: int) -> None:
    """With the journaled parts, the rehash also proves every part's bytes are those sent."""
    path = tmp_path / "v.mp4"
    data = write_bytes(path, size)
    part_size = 300 * 1024  # parts end inside the 4 MiB read blocks
    rows = _part_rows(data, part_size) or [PartRow(1, 0, _md5(b""), "etag")]
    assert rehash_matches(path, _md5(data), parts=rows, part_size=part_size) is not None
    if size:
        other = bytes([data[-1] ^ 1])  # the last part as it was sent differed
        sent = _part_rows(data[:-1] + other, part_size)
        assert rehash_matches(path, _md5(data), parts=sent, part_size=part_size) is None
    assert rehash_matches(path, _md5(data + b"!")) is None

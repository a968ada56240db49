"""The settle wait does useful work: a hash computed while a file settles is used only
for the exact file it was read from."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from vodwatch.group import md5_b64
from vodwatch.prehash import Prehasher, identity
from vodwatch.upload import Snapshot

MB = 1_000_000


def _md5(path: Path) -> str:
    return md5_b64(hashlib.md5(path.read_bytes()).digest())


def test_a_hash_of_a_still_file_is_handed_over(tmp_path: Path) -> None:
    """A file hashed while still is handed over with its MD5 when it has not changed."""
    path = tmp_path / "a.mp4"
    write_bytes(path, 3 * MB)
    pre = Prehasher(min_size=1)
    seen = identity(Snapshot.of(path))
    pre.consider(path, seen)
    result = pre.take(path, seen)
    assert result is not None and result.md5 == _md5(path)
    assert result.part_size == 0 and result.parts == (), "no part size planned"
    assert pre.take(path, seen) is None, "a hash is handed over once"
    pre.close()


def test_a_file_changed_during_the_settle_window_is_hashed_again(tmp_path: Path) -> None:
    """A hash read before the file changed is discarded: the caller must read it again."""
    path = tmp_path / "a.mp4"
    write_bytes(path, 3 * MB)
    pre = Prehasher(min_size=1)
    pre.consider(path, identity(Snapshot.of(path)))
    time.sleep(0.05)
    with open(path, "r+b") as fh:  # same size, same mtime put back: only ctime moves
        fh.write(b"changed")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert pre.take(path, identity(Snapshot.of(path))) is None
    pre.close()


def test_small_files_are_not_hashed_ahead(tmp_path: Path) -> None:
    """Below the size threshold nothing is hashed ahead (it costs nothing at claim time)."""
    path = tmp_path / "a.srt"
    path.write_text("1\n")
    pre = Prehasher(min_size=1 << 20)
    pre.consider(path, identity(Snapshot.of(path)))
    assert pre.take(path, identity(Snapshot.of(path))) is None
    pre.close()


def test_the_daemon_uses_the_hash_made_while_the_file_settled(setup: Setup,
                                                              daemon_factory) -> None:
    """With a settle window longer than the hash, the claimed file is not read again."""
    aid = asset_id(620)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(settle_seconds=2)
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    write_bytes(setup.inbox / f"{aid}.mp4", 5 * MB)
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="done")
    assert "file.hashed_while_settling" in daemon.output()
    assert daemon.stop() == 0


def _part_md5s(path: Path, part_size: int) -> tuple[str, ...]:
    data = path.read_bytes()
    return tuple(md5_b64(hashlib.md5(data[i:i + part_size]).digest())
                 for i in range(0, len(data), part_size))


def test_parts_are_hashed_in_the_same_read_at_the_planned_size(tmp_path: Path) -> None:
    """With a part size planned for the file's size, each part's MD5 comes with the
    whole-file MD5, from the same read."""
    path = tmp_path / "a.mp4"
    write_bytes(path, 7 * MB + 123)
    pre = Prehasher(min_size=1)
    seen = identity(Snapshot.of(path))
    planned: list[int] = []

    def plan(size: int) -> int:
        planned.append(size)
        return 2 * MB

    pre.consider(path, seen, plan)
    result = pre.take(path, seen)
    assert result is not None and result.md5 == _md5(path)
    assert planned == [7 * MB + 123], "planned for the size the file was seen at"
    assert result.part_size == 2 * MB
    assert result.parts == _part_md5s(path, 2 * MB)
    assert len(result.parts) == 4
    pre.close()


def test_part_hashes_of_a_file_changed_while_settling_are_not_handed_over(
        tmp_path: Path) -> None:
    """A file written to after its parts were hashed: neither the whole-file hash nor the
    part MD5s are handed over."""
    path = tmp_path / "a.mp4"
    write_bytes(path, 3 * MB)
    pre = Prehasher(min_size=1)
    pre.consider(path, identity(Snapshot.of(path)), lambda size: MB)
    time.sleep(0.05)
    with open(path, "r+b") as fh:
        fh.seek(MB + 5)
        fh.write(b"changed")
    assert pre.take(path, identity(Snapshot.of(path))) is None
    pre.close()


def test_once_the_link_is_measured_parts_are_hashed_while_the_file_settles(
        setup: Setup, daemon_factory) -> None:
    """The first upload measures the link (and the daemon remembers it in its state
    folder); the next file's parts are hashed in its settle read, at the part size its
    upload then keeps, and its upload hashes nothing more."""
    first, second = asset_id(621), asset_id(622)
    for aid in (first, second):
        setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(settle_seconds=1, upload={"parallel_parts": 2})
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    write_bytes(setup.inbox / f"{first}.mp4", 30 * MB)
    wait_for(lambda: (setup.done / f"{first}.mp4").exists(), 60, what="first done")
    assert (setup.state / "link.json").exists(), "what the link showed is remembered"
    before = len(daemon.output().splitlines())
    write_bytes(setup.inbox / f"{second}.mp4", 30 * MB, seed="second")
    wait_for(lambda: (setup.done / f"{second}.mp4").exists(), 60, what="second done")
    assert daemon.stop() == 0
    lines = daemon.output().splitlines()[before:]
    hashed = [json.loads(x) for x in lines if '"file.hashed_while_settling"' in x]
    started = [json.loads(x) for x in lines if '"upload.multipart_started"' in x]
    assert len(hashed) == 1 and len(started) == 1
    assert hashed[0]["part_size"] == started[0]["part_size"]
    assert "while the file settled" in started[0]["why"]
    assert not [x for x in lines if "settled_parts_unused" in x]


class _Sleeps(threading.Event):
    """A stop event that records how long the reader waited (the sleep, not a mock of
    the read)."""

    def __init__(self) -> None:
        super().__init__()
        self.waited: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waited.append(timeout or 0.0)
        return super().wait(0)


def test_a_read_waits_until_the_last_change_is_a_clock_tick_old(tmp_path: Path) -> None:
    """A write within one tick of the coarse clock after the last change would leave
    size, mtime and ctime as they were: the settle read does not begin until the last
    change is TICK_GUARD_SECONDS old, and never waits longer than that."""
    from vodwatch.prehash import TICK_GUARD_SECONDS
    path = tmp_path / "a.mp4"
    write_bytes(path, 3 * MB)
    seen = identity(Snapshot.of(path))
    changed = max(seen[1], seen[2]) / 1e9
    for now, expected in ((changed + 0.01, TICK_GUARD_SECONDS - 0.01),
                          (changed + 1.0, None), (changed - 5.0, TICK_GUARD_SECONDS)):
        stop = _Sleeps()
        pre = Prehasher(min_size=1, stop=stop, wall=lambda now=now: now)
        pre.consider(path, seen)
        result = pre.take(path, seen)
        pre.close()
        assert result is not None and result.md5 == _md5(path)
        if expected is None:
            assert stop.waited == []
        else:
            assert len(stop.waited) == 1 and abs(stop.waited[0] - expected) < 1e-6, stop.waited

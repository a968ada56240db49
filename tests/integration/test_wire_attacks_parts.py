"""Hostile tests of the settle-time hashing (prehash.py) and the remembered link
(partsize.py) on real files, FIFOs and tmpfs mounts: memory stays flat with thousands
of files never claimed here, a claim never waits for other files' reads, and a
link.json that is not a small regular file neither hangs nor floods the daemon."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from pathlib import Path

from tests.conftest import wait_for, write_bytes
from tests.mounts import fill, tmpfs
from vodwatch.group import md5_b64
from vodwatch.partsize import LinkEstimate, load_link, save_link
from vodwatch.prehash import Prehasher, identity
from vodwatch.upload import Snapshot

MiB = 1024 * 1024


def test_thousands_of_files_never_claimed_here_keep_memory_flat(tmp_path: Path) -> None:
    """Files hashed while settling but never claimed by this daemon (deleted, taken by a
    peer daemon on the same inbox, refused for their name) are not kept for ever: a
    daemon that watches for months would otherwise hold every one."""
    pre = Prehasher(min_size=1)
    for i in range(1500):
        path = tmp_path / f"{i}.mp4"
        path.write_bytes(b"x" * 64)
        pre.consider(path, identity(Snapshot.of(path)))
        if i % 2:
            path.unlink()  # deleted after its hash was worked out (or queued)
    assert len(pre) <= 512, "every file ever seen is kept"
    pre.close()


def test_a_claim_does_not_wait_for_other_files_to_be_read(tmp_path: Path) -> None:
    """Many large files settle at once: the claim of the last does not wait (holding its
    job) until the one prehash thread has read all the others; its queued read is
    dropped and the caller reads it itself, and a file already read is still handed over."""
    pre = Prehasher(min_size=1)
    paths = [tmp_path / f"{i}.mp4" for i in range(6)]
    for path in paths:
        write_bytes(path, 64 * MiB)
    seen = [identity(Snapshot.of(p)) for p in paths]
    for path, s in zip(paths, seen, strict=True):
        pre.consider(path, s)
    wait_for(lambda: getattr(pre, "_reading", None) == paths[0] or time.sleep(0.2),
             10, what="the first read begun")
    assert pre.take(paths[-1], seen[-1]) is None, "queued behind five reads: not waited for"
    first = pre.take(paths[0], seen[0])
    assert first is not None, "a read under way for this file is waited for"
    assert first.md5 == md5_b64(hashlib.md5(paths[0].read_bytes()).digest())
    pre.close()


def test_a_planner_that_fails_does_not_stop_the_file(tmp_path: Path) -> None:
    """Planning the part size is speculative: if it raises (an estimate that overflows),
    the whole-file hash is still handed over, without parts."""
    path = tmp_path / "a.mp4"
    write_bytes(path, 2 * MiB)
    pre = Prehasher(min_size=1)
    seen = identity(Snapshot.of(path))

    def overflowing(size: int) -> int:
        return int(float("inf"))

    pre.consider(path, seen, overflowing)
    done = pre.take(path, seen)
    pre.close()
    assert done is not None and done.part_size == 0 and done.parts == ()


def test_a_link_json_that_is_a_fifo_does_not_hang_the_daemon(tmp_path: Path) -> None:
    """state_dir/link.json made a FIFO (or a link to /dev/zero): reading it at start-up
    or after an upload must not block for ever nor read without end."""
    link = tmp_path / "link.json"
    os.mkfifo(link)
    got: list[LinkEstimate] = []
    reader = threading.Thread(target=lambda: got.append(load_link(link, "e")), daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "load_link blocked on a FIFO"
    assert got[0].rate is None
    saver = threading.Thread(target=save_link, args=(link, "e", LinkEstimate(25e6, 0.04)),
                             daemon=True)
    saver.start()
    saver.join(5)
    assert not saver.is_alive(), "save_link blocked on a FIFO"
    assert load_link(link, "e").rate == 25e6


def test_a_huge_link_json_is_not_read(tmp_path: Path) -> None:
    """A link.json of 64 MiB (not one vodwatch wrote) is ignored, not parsed."""
    link = tmp_path / "link.json"
    body = json.dumps({"e": {"rate": 25e6, "rtt": 0.04, "at": time.time()}})
    link.write_text(body + " " * (64 * MiB))
    assert load_link(link, "e").rate is None


def test_a_full_state_dir_keeps_the_old_link_json_and_no_debris(tmp_path: Path) -> None:
    """state_dir is a tiny tmpfs that fills up: saving the link fails with OSError (which
    the uploader logs and goes on), the earlier link.json is intact, no temporary file
    is left behind."""
    state = tmp_path / "state"
    with tmpfs(state, "64k"):
        link = state / "link.json"
        save_link(link, "e", LinkEstimate(25e6, 0.04))
        before = link.read_bytes()
        fill(state / "filler")
        with contextlib.suppress(OSError):
            save_link(link, "e", LinkEstimate(1e6, 0.2))
        assert link.read_bytes() == before
        assert sorted(p.name for p in state.iterdir()) == ["filler", "link.json"]
        assert load_link(link, "e").rate == 25e6

"""A real writer that fakes its mtime, against a real Settler fed by stat_entry polling."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import threading
import time
from pathlib import Path

from vodwatch.settle import Settler
from vodwatch.upload import hash_file
from vodwatch.watch import stat_entry

SIZE = 3 * 1024 * 1024
CHUNK = 64 * 1024
PAUSE = 0.2
SETTLE = 1.0
OLD_MTIME = 1_000_000_000_000_000_000  # 2001: the source file's preserved timestamp


class FakingWriter(threading.Thread):
    """Sets the final size first, writes 64 KB in place every 0.2 s, puts the mtime back."""

    def __init__(self, path: Path, content: bytes) -> None:
        super().__init__(name="faking-writer", daemon=True)
        self.path = path
        self.content = content
        self.finished_at: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.ftruncate(fd, len(self.content))
                os.utime(self.path, ns=(OLD_MTIME, OLD_MTIME))
                for offset in range(0, len(self.content), CHUNK):
                    time.sleep(PAUSE)
                    os.pwrite(fd, self.content[offset:offset + CHUNK], offset)
                    os.utime(self.path, ns=(OLD_MTIME, OLD_MTIME))
            finally:
                os.close(fd)
            self.finished_at = time.monotonic()
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_a_writer_that_puts_the_mtime_back_is_not_ready_until_it_has_finished(
        tmp_path: Path) -> None:
    """Polling with stat_entry, the file settles only settle_seconds after the last write,
    and what is hashed then is the whole content; without ctime it would have settled early."""
    path = tmp_path / "inbox" / "video.mp4"
    path.parent.mkdir()
    content = random.Random(7).randbytes(SIZE)
    settler: Settler[Path] = Settler(SETTLE, 600.0)
    blind: Settler[Path] = Settler(SETTLE, 600.0)  # the old check: size, mtime and inode
    blind_ready_at: float | None = None
    writer = FakingWriter(path, content)
    writer.start()
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, "the file never settled"
        time.sleep(0.05)
        entry = stat_entry(path)
        now = time.monotonic()
        if entry is None:
            continue
        assert entry.fresh and entry.kind == "file"
        settler.observe(path, entry.size, entry.mtime_ns, now, entry.ino,
                        ctime_ns=entry.ctime_ns, fresh=entry.fresh)
        blind.observe(path, entry.size, entry.mtime_ns, now, entry.ino)
        if blind_ready_at is None and blind.ready(now):
            blind_ready_at = now
        if settler.ready(now):
            ready_at = now
            break
    writer.join(timeout=10)
    assert writer.error is None
    assert writer.finished_at is not None
    assert ready_at >= writer.finished_at + SETTLE - 0.05
    assert blind_ready_at is not None and blind_ready_at < writer.finished_at - 1.0, (
        "the writer did not fool the old check, so this test proves nothing")
    md5, snap = hash_file(path)
    assert (snap.size, snap.mtime_ns) == (SIZE, OLD_MTIME)
    assert md5 == base64.b64encode(hashlib.md5(content).digest()).decode()

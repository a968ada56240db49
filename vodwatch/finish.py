"""Step 8: the file leaves for ``done/`` or ``failed/``, never overwriting anything,
with a plain-language ``.error.txt`` beside a failed one.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .log import redact
from .names import ERROR_SUFFIX

__all__ = ["ERROR_SUFFIX", "Failure", "error_text", "move_no_replace", "settle_move",
           "unique_target", "write_error_file"]


def unique_target(directory: Path, name: str) -> Path:
    """``directory/name``, or ``stem-N.ext`` with the smallest free N (no overwrite)."""
    target = directory / name
    if not _taken(target):
        return target
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    n = 2
    while True:
        candidate = directory / (f"{stem}-{n}.{ext}" if ext else f"{stem}-{n}")
        if not _taken(candidate):
            return candidate
        n += 1


def _taken(path: Path) -> bool:
    return os.path.lexists(path) or os.path.lexists(str(path) + ERROR_SUFFIX)


def move_no_replace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; FileExistsError if ``dst`` exists. Atomic where possible.

    A hard link refuses an existing name atomically (also on NFS); where links are
    not supported (some SMB mounts) an exists-check before the rename is the best
    that can be done.
    """
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                             errno.EACCES, errno.ENOSYS):
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "target exists", str(dst)) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def settle_move(src: Path, dst: Path) -> bool:
    """Finish a move that may have been cut short by a crash; True if it is complete.

    Cases: only ``src`` exists (not started: move it), both exist as the same
    file (linked, not yet unlinked: drop ``src``), only ``dst`` exists (done).
    """
    src_there, dst_there = os.path.lexists(src), os.path.lexists(dst)
    if src_there and dst_there:
        if os.path.samefile(src, dst):
            os.unlink(src)
            return True
        raise FileExistsError(errno.EEXIST, "target exists", str(dst))
    if src_there:
        move_no_replace(src, dst)
        return True
    return dst_there


@dataclass(frozen=True)
class Failure:
    """Why a file failed, in words for the person who dropped it."""

    sentence: str  # one plain sentence: what went wrong
    todo: str  # what to do about it
    code: str = ""  # VOD / gateway / store error code, if any
    remote_msg: str = ""  # the service's own message, if any
    asset_id: str = ""


def error_text(name: str, failure: Failure, when: datetime | None = None) -> str:
    """The content of ``<name>.error.txt``."""
    when = when or datetime.now(UTC)
    lines = [
        f"vodwatch could not upload {name}.",
        "",
        f"What went wrong: {failure.sentence}",
    ]
    if failure.asset_id:
        lines.append(f"Media asset: {failure.asset_id}")
    if failure.code or failure.remote_msg:
        lines.append(f"VOD said: {failure.code} {failure.remote_msg}".rstrip())
    lines += [
        f"When: {when.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}",
        f"What to do: {failure.todo}",
        "",
        "To try again, move the file back into the inbox (or run: vodwatch retry "
        f"{name}).",
        "",
    ]
    return "\n".join(lines)


def write_error_file(target: Path, failure: Failure, when: datetime | None = None) -> Path:
    """Write ``target.error.txt`` atomically (temp file, fsync, rename); return its path."""
    path = Path(str(target) + ERROR_SUFFIX)
    tmp = path.with_name(f".{path.name}.tmp")
    data = redact(error_text(target.name, failure, when)).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path

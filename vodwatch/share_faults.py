"""Faults of the share in words, and a write probe: one home for both.

A share fault (full, read-only, not writable, missing, not a folder, not answering)
makes a folder set *unavailable*; this is the sentence it says, with what to do.
"""

from __future__ import annotations

import contextlib
import errno as e
import os
from collections.abc import Iterable
from pathlib import Path

PROBE_BYTES = 64 * 1024  # a little room for the tickets and markers that follow
PROBE_PREFIX = ".vodwatch-probe-"
STALE_PROBE_SECONDS = 600.0  # a probe lives milliseconds; older, its daemon was killed


def share_fault(exc: OSError, where: str) -> str:
    """One sentence for a share fault, with what to do."""
    code = exc.errno
    if code in (e.ENOSPC, e.EDQUOT):
        return f"the share is full ({where}): free some space; vodwatch carries on by itself"
    if code in (e.EROFS, e.EACCES, e.EPERM):
        return (f"vodwatch may not write to {where} ({exc.strerror}): give the service user "
                "write access; vodwatch carries on by itself")
    if code in (e.EEXIST, e.ENOTDIR) and where and not os.path.isdir(where):
        return f"{where} is not a folder: make it a folder; vodwatch carries on by itself"
    if code == e.ENOENT:
        return f"{where} is missing: is the share mounted? vodwatch waits for it"
    return f"the share does not answer ({where}: {exc.strerror or exc}); vodwatch waits for it"


def probe_write(folder: Path) -> None:
    """Create, fill, sync and delete a hidden file in ``folder``; OSError if the share refuses.

    The probe writes real bytes: an empty file fits on a full share (it needs an inode, not
    space), and calling a full share available again would make it flap. The error names
    ``folder`` (what a person can fix), not the probe's own file.
    """
    path = folder / f"{PROBE_PREFIX}{os.getpid()}"
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            left = memoryview(b"\0" * PROBE_BYTES)
            while left:  # a nearly full share takes part of a write and says nothing
                written = os.write(fd, left)
                if written <= 0:
                    raise OSError(e.ENOSPC, os.strerror(e.ENOSPC))
                left = left[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise OSError(exc.errno, exc.strerror, str(folder)) from None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_stale_probes(folder: Path, now: float) -> None:
    """Delete probe files a killed daemon left in ``folder`` (64 KiB each, and a dot-name
    is not hidden on a Windows share); a recent one may be another daemon's, in use."""
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(PROBE_PREFIX) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > STALE_PROBE_SECONDS:
                        os.unlink(entry.path)


def refusing_folder(exc: OSError, folders: Iterable[Path]) -> OSError:
    """``exc`` of a move (whose filename is the file being moved, whichever side refused)
    as the fault of the first of ``folders`` that refuses a write. When none does, a
    missing file stays ``exc`` (it vanished); any other fault (a full share, say) is
    told as the first folder's, the one the file was going to."""
    first: Path | None = None
    for folder in folders:
        first = first or folder
        try:
            probe_write(folder)
        except OSError as refused:
            return refused
    if first is None or exc.errno in (e.ENOENT, e.ENOTDIR):
        return exc
    return OSError(exc.errno, exc.strerror, str(first))

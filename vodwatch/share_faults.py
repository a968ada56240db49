"""Faults of the share in words, and a write probe: one home for both.

A share fault (full, read-only, not writable, missing, not a folder, not answering)
makes a folder set *unavailable*; this is the sentence it says, with what to do.
"""

from __future__ import annotations

import contextlib
import errno as e
import os
from pathlib import Path


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
    """Create and delete a hidden file in ``folder``; OSError if the share refuses."""
    path = folder / f".vodwatch-probe-{os.getpid()}"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)

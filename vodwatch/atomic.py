"""Replace a file atomically: the one home of that rule.

A reader (an editor's Notepad, a peer daemon, Excel) sees the old file or the new one,
never a half-written one: the bytes go to a hidden temporary file beside the target,
are flushed to disk, and the temporary file is renamed over the target (atomic on
local disks, NFS and SMB alike). The temporary name is unique and short, so it works
beside a 255-byte name; a failure leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def replace_file(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True,
                 sync_folder: bool = False) -> None:
    """Put ``data`` at ``path`` atomically; OSError if the folder refuses.

    ``durable`` flushes the bytes to disk before the rename (what people read);
    ``sync_folder`` also flushes the folder, where the share allows it.
    """
    fd, tmp = tempfile.mkstemp(prefix=".vodwatch-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            with contextlib.suppress(OSError):  # some network filesystems refuse modes
                os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_folder:
        with contextlib.suppress(OSError):  # a share may not open folders: best effort
            dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

"""One look at one path in the inbox: a fault of that file is not a fault of the share.

A file the share cannot read (a bad block: EIO; a handle gone stale: ESTALE) is
skipped with a reason that ``status`` shows, and looked at again later; the other
files carry on. A fault that says the share itself is gone (the server does not
answer), or any fault while the inbox itself cannot be read either, makes the whole
folder set unavailable instead. Also: a name that is not text goes to failed/ at once.
"""

from __future__ import annotations

import errno as e
import os
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from .claim import STATE_DIR_NAME
from .finish import fail_undecodable, failed_detail
from .watch import Entry, stat_entry
from .words import printable

if TYPE_CHECKING:
    from .folder import FolderWatch

log = structlog.get_logger("vodwatch.folder")

# A connection to the file server lost: every file of the share fails the same way.
SHARE_DOWN = frozenset({e.ENOTCONN, e.EHOSTDOWN, e.EHOSTUNREACH, e.ENETDOWN, e.ENETUNREACH,
                        e.ENETRESET, e.ETIMEDOUT, e.ECONNRESET, e.ECONNABORTED, e.ESHUTDOWN,
                        e.ECONNREFUSED, e.ENOMEDIUM})


def share_wide(exc: OSError, inbox: Path) -> bool:
    """True when ``exc`` (from one path in ``inbox``) is the share's fault, not the file's:
    a lost connection, or the inbox itself no longer readable."""
    if exc.errno in SHARE_DOWN:
        return True
    try:
        os.stat(inbox)
        os.listdir(inbox / STATE_DIR_NAME)
    except FileNotFoundError:
        return False  # no hidden folder (yet): the inbox itself answered
    except OSError:
        return True
    return False


def unreadable_reason(exc: OSError) -> str:
    """Why a file is not handled, for ``status``: in plain words, with what to do."""
    return (f"it cannot be read ({exc.strerror or exc}): vodwatch looks at it again "
            "regularly; if this stays, copy the file to the inbox again")


def note_unreadable(unreadable: dict[Path, str], path: Path, exc: OSError) -> None:
    """Remember (and log once) that ``path`` could not be looked at."""
    why = unreadable_reason(exc)
    if unreadable.get(path) != why:
        log.warning("file.unreadable", file=printable(path.name), error=str(exc))
    unreadable[path] = why


def look(path: Path, inbox: Path, unreadable: dict[Path, str]) -> Entry | None:
    """Fresh attributes of one inbox path; None if it is gone or cannot be read (then
    ``unreadable`` says why). Raises OSError only when the share itself is in trouble."""
    try:
        entry = stat_entry(path)
    except OSError as exc:
        if share_wide(exc, inbox):
            raise
        note_unreadable(unreadable, path, exc)
        return None
    unreadable.pop(path, None)
    return entry


def fail_undecodable_now(watch: FolderWatch, path: Path) -> None:
    """A name of bytes that are not text goes to failed/ at once (finish.py)."""
    watch.settler.forget(path)
    watch.entries.pop(path, None)
    shown = printable(path.name)
    folder_set = watch.folder_set
    try:
        failure, target = fail_undecodable(path, folder_set.failed)
    except OSError as exc:
        watch.skipped[shown] = ("its name is not readable text, and it could not be "
                                f"moved to failed/ ({exc})")
        log.error("file.unmovable", folder=folder_set.name, file=shown, error=str(exc))
        return
    watch.journal.event(folder_set.name, "failed", file=shown,
                        detail=failed_detail(failure.sentence, target.name))
    log.warning("file.failed", folder=folder_set.name, file=shown, reason=failure.sentence)

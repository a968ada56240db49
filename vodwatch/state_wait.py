"""The state folder's disk: opening the folder at start, waiting while its disk cannot
take writes, and what ``status`` says of that disk.

``vodwatch run`` started while its state_dir is full, remounted read-only or failing
(``StateUnavailable.passing``) does not exit: under systemd an exit 2 is final, so the
service would stay down after the disk recovered. It says why (log, sd_notify STATUS),
keeps systemd's watchdog fed, looks again every ``RECHECK_SECONDS`` and starts once the
folder works; a stop asked for meanwhile ends it cleanly. A setup mistake (not writable
by the user, not a folder, a damaged journal, another process) and ``vodwatch once`` still
end at once with exit 2 and the fix.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from .errors import StateUnavailable
from .notify import Notifier
from .state import StateLock, open_journal, prepare_state_dir

log = structlog.get_logger("vodwatch.state")

RECHECK_SECONDS = 10.0
# Less free space than this under state_dir: the journal's next writes may not fit.
LOW_SPACE_BYTES = 256 * 1024


def open_state(state_dir: Path, *, once: bool) -> StateLock:
    """Make ``state_dir`` private and usable, lock it for this process, check its journal."""
    for warning in prepare_state_dir(state_dir):
        log.warning("state_dir.tightened", detail=warning)
    # Before anything opens the journal: a second process must not touch the first's work.
    lock = StateLock.acquire(state_dir, "once" if once else "run")
    try:
        open_journal(state_dir).close()  # a damaged journal is told now, with the fix
    except BaseException:
        lock.release()
        raise
    return lock


def open_state_waiting(state_dir: Path, notifier: Notifier, stopping: Callable[[], bool],
                       sleep: Callable[[float], None] = time.sleep) -> StateLock | None:
    """:func:`open_state` for ``run``, waiting out a passing fault; None when stopped."""
    said = ""
    while True:
        try:
            lock = open_state(state_dir, once=False)
        except StateUnavailable as exc:
            if not exc.passing:
                raise
            if str(exc) != said:
                said = str(exc)
                log.error("state.unavailable", detail=exc.message, fix=exc.hint,
                          action=f"vodwatch starts once it can write there "
                                 f"(looks again every {RECHECK_SECONDS:.0f} s)")
            notifier.ready(f"STATE UNAVAILABLE: {exc.message}; waiting")
        else:
            if said:
                log.info("state.available", state_dir=str(state_dir))
            return lock
        waited = 0.0
        while waited < RECHECK_SECONDS:
            if stopping():
                return None
            notifier.watchdog()
            sleep(0.5)
            waited += 0.5


def disk_fault(state_dir: Path) -> str | None:
    """Why the disk under ``state_dir`` cannot take the journal's writes now, or None.

    For ``status``, which reads a journal that such a disk stops the daemon writing.
    """
    try:
        disk = os.statvfs(state_dir)
    except OSError as exc:
        return f"{state_dir} cannot be read ({exc.strerror or exc})"
    if disk.f_flag & os.ST_RDONLY:
        return f"{state_dir} is on a read-only filesystem"
    if disk.f_bavail * disk.f_frsize < LOW_SPACE_BYTES:
        return f"{state_dir} is full (no space left on its disk)"
    return None

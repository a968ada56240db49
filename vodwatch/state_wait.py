"""The state folder's disk: opening the folder at start, waiting while its disk cannot
take writes, and what ``status`` says of that disk.

``vodwatch run`` started while its state_dir is full, remounted read-only or failing
(``StateUnavailable.passing``) does not exit: under systemd an exit 2 is final, so the
service would stay down after the disk recovered. It says why (log, sd_notify STATUS),
keeps systemd's watchdog fed, looks again every ``RECHECK_SECONDS`` and starts once the
folder works; a stop asked for meanwhile ends it cleanly. It holds the state_dir's lock
while it waits (where the lock file opens at all): a second ``run`` is refused at once
instead of racing it for the folder once it is writable. A setup mistake (not writable
by the user, not a folder, a damaged journal, another process) and ``vodwatch once`` still
end at once with exit 2 and the fix.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from .errors import StateUnavailable
from .notify import Notifier
from .state import (
    LOCK_NAME,
    Holder,
    StateLock,
    _busy,
    open_journal,
    prepare_state_dir,
    state_error,
)

log = structlog.get_logger("vodwatch.state")

RECHECK_SECONDS = 10.0
# Less free space than this under state_dir: the journal's next writes may not fit.
LOW_SPACE_BYTES = 256 * 1024


def open_state(state_dir: Path, *, once: bool, held: StateLock | None = None) -> StateLock:
    """Make ``state_dir`` private and usable, lock it for this process, check its journal.

    ``held``: the lock, already taken while the disk was waited for; kept on failure.
    """
    for warning in prepare_state_dir(state_dir):
        log.warning("state_dir.tightened", detail=warning)
    # Before anything opens the journal: a second process must not touch the first's work.
    if held is not None and not _still_the_lock_file(held):
        held.release()  # the folder was replaced meanwhile: lock the file that is there now
        held = None
    if held is not None:
        _write_holder(held)
    lock = held or StateLock.acquire(state_dir, "once" if once else "run")
    try:
        open_journal(state_dir).close()  # a damaged journal is told now, with the fix
    except BaseException:
        if held is None:
            lock.release()
        raise
    return lock


def _still_the_lock_file(lock: StateLock) -> bool:
    """Whether ``lock`` is on the file that is at its path now (not on one removed)."""
    fd = lock._fd  # the descriptor the flock is on
    try:
        return fd is not None and os.path.samestat(os.fstat(fd), os.stat(lock.path))
    except OSError:
        return False


def _write_holder(lock: StateLock) -> None:
    """Say who holds ``lock`` in its file, now that the disk takes writes (a flock is not
    let go when another descriptor of the file is closed)."""
    data = lock.holder.to_json().encode()
    try:
        fd = os.open(lock.path, os.O_WRONLY)
        try:
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)
    except OSError as exc:
        raise state_error(lock.path.parent, exc) from exc


def hold_while_waiting(state_dir: Path) -> StateLock | None:
    """The state_dir's lock for a ``run`` that waits for the disk; StateBusy when another
    process has it, None when no lock file can be opened (nothing to hold yet)."""
    try:
        return StateLock.acquire(state_dir, "run")
    except StateUnavailable:
        pass  # full or read-only: the lock file may still open for reading, and flock
    path = state_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _busy(state_dir) from None
    except OSError:
        os.close(fd)
        return None
    return StateLock(path, fd, Holder(os.getpid(), "run", socket.gethostname(), time.time()))


def open_state_waiting(state_dir: Path, notifier: Notifier, stopping: Callable[[], bool],
                       sleep: Callable[[float], None] = time.sleep) -> StateLock | None:
    """:func:`open_state` for ``run``, waiting out a passing fault; None when stopped."""
    said = ""
    held: StateLock | None = None
    while True:
        try:
            if held is None:
                held = hold_while_waiting(state_dir)
            lock = open_state(state_dir, once=False, held=held)
        except StateUnavailable as exc:
            if not exc.passing:
                if held is not None:
                    held.release()
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
                if held is not None:
                    held.release()
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

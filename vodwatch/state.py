"""The state folder: one process, private, healthy.

``state_dir`` holds the journal, which names every file and asset vodwatch handled:
it is made private (0700, the journal files 0600), a folder that others may read is
tightened with a warning, never refused. One ``state_dir`` serves one process: ``run``
and ``once`` take an exclusive ``flock`` on ``state_dir/lock`` before they open the
journal, and the kernel lets go of it when the process ends, however it ends. Every
way the folder or the journal can be unusable (not writable, read-only, full, damaged)
becomes a :class:`~vodwatch.errors.VodwatchError` that says what is wrong and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import JournalDamaged, StateBusy, StateUnavailable
from .journal import Journal

LOCK_NAME = "lock"
JOURNAL_NAME = "journal.sqlite3"
DIR_MODE = 0o700
FILE_MODE = 0o600
PROBE_BYTES = 4096  # one SQLite page: a folder that cannot take this cannot take the journal
_HOLDER_READ_TRIES = 20  # the holder writes its line right after locking; wait that long
_HOLDER_READ_PAUSE = 0.025
_CORRUPT = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
_FULL = ("SQLITE_FULL",)
_DENIED = ("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN", "SQLITE_AUTH")


# ---- the folder ---------------------------------------------------------------------------


# Conditions of the disk that pass without a change of setup (StateUnavailable.passing).
PASSING_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ESTALE,
                            errno.ENOTCONN, errno.EHOSTDOWN})


def state_error(state_dir: Path, exc: OSError, doing: str = "write in") -> StateUnavailable:
    """The plain-language error for an OS error met while using ``state_dir``."""
    error = _state_error(state_dir, exc, doing)
    error.passing = exc.errno in PASSING_ERRNOS
    return error


def _state_error(state_dir: Path, exc: OSError, doing: str) -> StateUnavailable:
    other = "or choose another state_dir"
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        return StateUnavailable(
            f"state_dir {state_dir} is not writable by this user ({_user()})",
            f"chown it to the service user (chown -R {_user()}: {state_dir}), {other}")
    if code == errno.EROFS:
        return StateUnavailable(
            f"state_dir {state_dir} is on a read-only filesystem",
            f"mount it read-write, {other}; under systemd, StateDirectory= gives a writable one")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return StateUnavailable(
            f"state_dir {state_dir} is full (no space left on its disk)",
            f"free some space there (df -h {state_dir}), {other}")
    if code == errno.ENOTDIR or (code == errno.EEXIST and not state_dir.is_dir()):
        return StateUnavailable(f"state_dir {state_dir} is not a folder",
                                f"move that file away, {other}")
    if code == errno.EIO:
        return StateUnavailable(
            f"the disk under state_dir {state_dir} reported an I/O error",
            f"check the disk (dmesg shows why), {other}")
    return StateUnavailable(f"cannot {doing} state_dir {state_dir}: {exc.strerror or exc}",
                            f"check the folder and its disk, {other}")


def _user() -> str:
    uid = os.geteuid()
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def _loose(mode: int) -> bool:
    return bool(mode & 0o077)


def journal_files(state_dir: Path) -> list[Path]:
    """The journal and its companions (``-wal``, ``-shm``, copies set aside) that exist."""
    try:
        return sorted(p for p in state_dir.glob(JOURNAL_NAME + "*") if p.is_file())
    except OSError:
        return []


def loose_modes(state_dir: Path) -> list[tuple[Path, int]]:
    """``state_dir`` and journal files that the group or others may read, with their modes."""
    found = []
    for path in [state_dir, *journal_files(state_dir)]:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            continue
        if _loose(mode):
            found.append((path, mode))
    return found


def probe_write(state_dir: Path) -> None:
    """Create, fill and remove a hidden file in ``state_dir``; raise StateUnavailable if not."""
    probe = state_dir / f".probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise state_error(state_dir, exc) from exc
    try:
        probe.unlink()
    except OSError as exc:
        raise state_error(state_dir, exc) from exc


def prepare_state_dir(state_dir: Path) -> list[str]:
    """Make ``state_dir`` exist, private and writable; return warnings about what was tightened.

    Creates it (and its parents) as 0700; a folder or journal file that the group or
    others may read is tightened (0700 / 0600) with a warning, never refused. Raises
    :class:`StateUnavailable` when the folder cannot be created or written.
    """
    warnings: list[str] = []
    try:
        os.stat(state_dir)
    except FileNotFoundError:
        try:
            state_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(state_dir, DIR_MODE)
        except OSError as exc:
            raise state_error(state_dir, exc, "create") from exc
    except OSError as exc:
        raise state_error(state_dir, exc, "look at") from exc
    if not state_dir.is_dir():
        raise StateUnavailable(f"state_dir {state_dir} is not a folder",
                               "move that file away, or choose another state_dir")
    for path, mode in loose_modes(state_dir):
        folder = path == state_dir
        private = DIR_MODE if folder else FILE_MODE
        what = f"state_dir {path}" if folder else f"journal file {path}"
        try:
            os.chmod(path, private)
        except OSError as exc:
            warnings.append(f"{what} can be read by others (mode {mode:04o}) and could not be "
                            f"made private: {exc.strerror} (chmod {private:o} {path})")
        else:
            warnings.append(f"{what} could be read by others (mode {mode:04o}); made it private "
                            f"({private:04o}): the journal names every file and asset")
    probe_write(state_dir)
    return warnings


# ---- one process --------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """Who holds a state_dir's lock, as written in the lock file."""

    pid: int
    command: str
    host: str
    started_at: float

    def describe(self) -> str:
        """``pid 1234, `vodwatch run`, started 2026-11-30 10:00 UTC`` (and the host if not ours)."""
        started = datetime.fromtimestamp(self.started_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"pid {self.pid}{where}, `vodwatch {self.command}`, started {started}"

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "command": self.command, "host": self.host,
                           "started_at": self.started_at}) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Holder | None:
        try:
            data: Any = json.loads(text)
            return cls(int(data["pid"]), str(data["command"]), str(data["host"]),
                       float(data["started_at"]))
        except (ValueError, TypeError, KeyError):
            return None


def read_holder(state_dir: Path) -> Holder | None:
    """What the lock file says about its holder; None if absent or not (yet) readable."""
    try:
        return Holder.from_json((state_dir / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def _flock_holders(path: Path, locks: Path = Path("/proc/locks")) -> bool | None:
    """Whether the kernel lists a lock on ``path``; None when /proc/locks cannot say."""
    try:
        st = os.stat(path)
        table = locks.read_text(encoding="ascii")
    except OSError:
        return None
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return any(device in line.split() for line in table.splitlines())


def is_locked(state_dir: Path) -> bool:
    """Whether a process holds ``state_dir``'s lock; never takes or disturbs the lock.

    For ``vodwatch check``: the kernel's table of locks tells whether the lock is held
    (the lock file then tells by whom, see :func:`read_holder`). Without that table, a
    live process of the pid in the lock file on this host is taken as the answer.
    """
    path = state_dir / LOCK_NAME
    if not path.is_file():
        return False
    held = _flock_holders(path)
    if held is None:
        holder = read_holder(state_dir)
        held = holder is not None and holder.host == socket.gethostname() and _alive(holder.pid)
    return held


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StateLock:
    """The exclusive lock on ``state_dir/lock``, held from acquire until release or exit.

    The kernel drops a ``flock`` when its process dies, even by ``kill -9``, so a lock
    is never stale; the file itself stays (deleting it would let two processes hold
    locks on two different files of the same name).
    """

    def __init__(self, path: Path, fd: int, holder: Holder) -> None:
        self.path = path
        self.holder = holder
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_dir: Path, command: str, *,
                clock: Callable[[], float] = time.time) -> StateLock:
        """Take the lock for ``vodwatch COMMAND``; StateBusy names the process that has it.

        Opens no journal and writes nothing unless the lock is ours.
        """
        path = state_dir / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise state_error(state_dir, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(state_dir) from None
        except OSError as exc:
            os.close(fd)
            raise StateUnavailable(
                f"cannot lock state_dir {state_dir}: {exc.strerror or exc}",
                "put state_dir on a local disk that supports file locks (flock)") from exc
        holder = Holder(os.getpid(), command, socket.gethostname(), clock())
        data = holder.to_json().encode()
        try:
            os.fchmod(fd, FILE_MODE)
            # Written over the old line in one call, then cut: never an empty file to read.
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        except OSError as exc:
            os.close(fd)
            raise state_error(state_dir, exc) from exc
        return cls(path, fd, holder)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let go of the lock (closing the file); the lock file stays where it is."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _busy(state_dir: Path) -> StateBusy:
    holder = None
    for _ in range(_HOLDER_READ_TRIES):
        holder = read_holder(state_dir)
        if holder is not None:
            break
        time.sleep(_HOLDER_READ_PAUSE)
    who = (f"another vodwatch ({holder.describe()})" if holder is not None
           else f"another vodwatch (its pid could not be read from {state_dir / LOCK_NAME})")
    return StateBusy(f"{who} already uses state_dir {state_dir}",
                     "stop it first, or give this one its own state_dir")


# ---- the journal --------------------------------------------------------------------------


def journal_error(state_dir: Path, exc: sqlite3.Error) -> StateUnavailable:
    """The plain-language error for what SQLite said about the journal in ``state_dir``."""
    path = state_dir / JOURNAL_NAME
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name.startswith(_CORRUPT) or "not a database" in text or "malformed" in text:
        return damaged(state_dir, text)
    if name.startswith(_FULL) or "disk is full" in text:
        return state_error(state_dir, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    if name.startswith(_DENIED) or "readonly" in text or "unable to open" in text:
        return StateUnavailable(
            f"the journal {path} cannot be opened for writing ({text})",
            f"give this user ({_user()}) write access to {state_dir} and the journal files "
            f"in it (chown -R {_user()}: {state_dir}), or choose another state_dir")
    if name.startswith("SQLITE_IOERR") or "disk I/O" in text:
        return state_error(state_dir, OSError(errno.EIO, os.strerror(errno.EIO)))
    return StateUnavailable(f"cannot use the journal {path}: {text}",
                            f"check {state_dir} and its disk, or choose another state_dir")


def damaged(state_dir: Path, why: str) -> JournalDamaged:
    """The error for a damaged journal, with the commands that set it aside."""
    moves = " && ".join(f"mv {p.name} {JOURNAL_NAME}.corrupt{p.name[len(JOURNAL_NAME):]}"
                        for p in journal_files(state_dir)
                        if p.name in (JOURNAL_NAME, JOURNAL_NAME + "-wal",
                                      JOURNAL_NAME + "-shm")) or (
        f"mv {JOURNAL_NAME} {JOURNAL_NAME}.corrupt")
    return JournalDamaged(
        f"the journal {state_dir / JOURNAL_NAME} is damaged ({why})",
        f"move it aside (cd {state_dir} && {moves}) and start again: files on the share "
        "are where they were, and vodwatch carries on from the share")


def open_journal(state_dir: Path, **kwargs: Any) -> Journal:
    """``Journal.open(state_dir)`` plus ``PRAGMA quick_check``, with every failure explained.

    Takes no lock (the caller holds :class:`StateLock` for ``run``/``once``). Raises
    :class:`JournalDamaged` for a journal that is not SQLite or is corrupt, and
    :class:`StateUnavailable` when it cannot be written, the disk is full or failing.
    """
    try:
        journal = Journal.open(state_dir, **kwargs)
    except sqlite3.Error as exc:
        raise journal_error(state_dir, exc) from exc
    except OSError as exc:
        raise state_error(state_dir, exc, "open the journal in") from exc
    try:
        problems = journal.quick_check()
    except sqlite3.Error as exc:
        journal.close()
        raise journal_error(state_dir, exc) from exc
    if problems:
        journal.close()
        raise damaged(state_dir, "; ".join(problems[:3]))
    return journal


def under(filename: object, folder: Path) -> bool:
    """True if ``filename`` (an OSError's) is ``folder`` or inside it."""
    return isinstance(filename, str | Path) and Path(folder) in (Path(filename), *Path(
        filename).parents)

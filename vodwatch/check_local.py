"""``vodwatch check``, on this machine: the folders of each folder set (exist,
one filesystem, writable, watchable), inotify limits, and the state folder with
its journal."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from .check_result import FAIL, OK, WARN, Result
from .config import FolderSet
from .errors import StateUnavailable
from .state import (
    DIR_MODE,
    FILE_MODE,
    JOURNAL_NAME,
    is_locked,
    loose_modes,
    open_journal,
    probe_write,
    read_holder,
)
from .watch import NETWORK_FS, choose_mode, filesystem_type

INOTIFY_DIR = Path("/proc/sys/fs/inotify")
# Below these, a desktop session or an IDE of the same user can exhaust inotify
# and vodwatch falls back to polling; distributions ship 8192+ watches and 128 instances.
MIN_WATCHES = 8192
MIN_INSTANCES = 128
_COUNT_LIMIT = 100_000  # stop counting sub-folders past this: the answer is "too many" already


def other_filesystems(devices: Mapping[str, int], reference: str = "inbox") -> list[str]:
    """The names in ``devices`` (name -> st_dev) whose device differs from ``reference``'s."""
    if reference not in devices:
        return []
    return [name for name, dev in devices.items() if dev != devices[reference]]


def probe(folder: Path) -> tuple[str, OSError] | None:
    """Create, rename and delete a hidden file in ``folder``; (failed step, error) or None.

    The name is hidden, so a daemon watching the folder ignores it.
    """
    first = folder / f".vodwatch-check-{os.getpid()}-{secrets.token_hex(4)}"
    second = first.with_name(first.name + ".renamed")
    step = "create"
    try:
        fd = os.open(first, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, b"vodwatch check\n")
        finally:
            os.close(fd)
        step = "rename"
        os.rename(first, second)
        step = "delete"
        os.unlink(second)
    except OSError as exc:
        for leftover in (first, second):
            with contextlib.suppress(OSError):
                leftover.unlink()
        return step, exc
    return None


def _write_fix(path: Path) -> str:
    return (f"give the user vodwatch runs as write access to {path} (e.g. chown vodwatch: "
            f"{path}, or a shared group with chmod g+ws); under systemd, also list it in "
            "ReadWritePaths=")


def check_folder_set(folder_set: FolderSet, rescan_seconds: float,
                     mounts: str = "/proc/self/mounts") -> list[Result]:
    """Folders exist, share a filesystem, are writable; the watch mode and why."""
    results = []
    devices: dict[str, int] = {}
    folders = {"inbox": folder_set.inbox, "done": folder_set.done, "failed": folder_set.failed}
    for role, path in folders.items():
        try:
            st = os.stat(path)
        except FileNotFoundError:
            results.append(Result(FAIL, f"{role} {path} does not exist",
                                  f"create it (mkdir -p {path}), or mount the share it is on"))
            continue
        except OSError as exc:
            results.append(Result(FAIL, f"{role} {path} cannot be looked at: {exc.strerror}",
                                  "check the permissions of the folders above it"))
            continue
        if not stat.S_ISDIR(st.st_mode):
            results.append(Result(FAIL, f"{role} {path} is not a folder",
                                  f"move that file away and create a folder (mkdir {path})"))
            continue
        devices[role] = st.st_dev
        results.append(Result(OK, f"{role} {path} is a folder"))
    apart = other_filesystems(devices)
    for role in apart:
        results.append(Result(
            FAIL, f"{role} {folders[role]} is not on the same filesystem as the inbox "
            f"{folder_set.inbox}", "files leave the inbox by an atomic rename, which works only "
            "within one filesystem: put done/ and failed/ beside the inbox on its disk or share"))
    if not apart and "inbox" in devices and len(devices) > 1:
        results.append(Result(OK, f"inbox, done and failed of {folder_set.inbox} are on one "
                                  "filesystem"))
    for role in devices:
        path = folders[role]
        trouble = probe(path)
        if trouble is None:
            results.append(Result(OK, f"vodwatch can create, rename and delete files in {role} "
                                  f"{path}"))
        else:
            step, error = trouble
            results.append(Result(FAIL, f"cannot {step} a file in {role} {path}: "
                                  f"{error.strerror or error}", _write_fix(path)))
    if "inbox" in devices:
        mode, why = choose_mode(folder_set.watch, folder_set.inbox, mounts)
        fstype = filesystem_type(folder_set.inbox, mounts)
        if mode == "events" and (fstype in NETWORK_FS or fstype.startswith("fuse")):
            results.append(Result(
                WARN, f"{folder_set.inbox} is watched with change events ({why}), but it is on a "
                f"{fstype} share", "files written by other machines are only found by the "
                f"rescan every {rescan_seconds:g} s: set watch: auto or polling"))
        else:
            results.append(Result(OK, f"{folder_set.inbox} will be watched by {mode}: {why}"))
    return results


def read_int(path: Path) -> int | None:
    """The integer in a /proc file, or None when it cannot be read."""
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def count_dirs(top: Path, recursive: bool) -> int:
    """How many inotify watches an inbox needs: 1, or one per folder when recursive."""
    if not recursive:
        return 1
    count = 0
    for _, dirs, _ in os.walk(top):
        count += 1
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if count >= _COUNT_LIMIT:
            break
    return count


def inotify_results(watches: int | None, instances: int | None, needed_watches: int,
                    needed_instances: int) -> list[Result]:
    """Judge the inotify limits against what the folder sets watched by events need."""
    sysctl = ("raise it in /etc/sysctl.d/60-vodwatch.conf (fs.inotify.max_user_watches = 524288,"
              " fs.inotify.max_user_instances = 512), then run sysctl --system; or set watch: "
              "polling")
    if needed_instances == 0:
        return [Result(OK, "inotify is not needed: every folder set is polled")]
    if watches is None or instances is None:
        return [Result(WARN, f"cannot read the inotify limits in {INOTIFY_DIR}",
                       "if change events fail, vodwatch polls instead; set watch: polling to "
                       "choose that now")]
    results = []
    need = f"vodwatch needs about {needed_watches}"
    if watches < MIN_WATCHES or watches < 2 * needed_watches:
        results.append(Result(WARN, f"fs.inotify.max_user_watches is {watches}; {need}, "
                              "and other programs of the same user use them too", sysctl))
    if instances < MIN_INSTANCES or instances < needed_instances + MIN_INSTANCES // 2:
        results.append(Result(WARN, f"fs.inotify.max_user_instances is {instances}; vodwatch "
                              f"needs {needed_instances}, and other programs of the same user "
                              "use them too", sysctl))
    if not results:
        results.append(Result(OK, f"inotify headroom: max_user_watches {watches}, "
                              f"max_user_instances {instances} ({need} watch(es) and "
                              f"{needed_instances} instance(s))"))
    return results


def check_inotify(folders: Sequence[FolderSet], proc: Path = INOTIFY_DIR,
                  mounts: str = "/proc/self/mounts") -> list[Result]:
    """inotify limits, counted for the folder sets that will use change events."""
    evented = [folder_set for folder_set in folders
               if folder_set.inbox.is_dir() and choose_mode(folder_set.watch, folder_set.inbox,
                                                            mounts)[0] == "events"]
    watches = sum(count_dirs(folder_set.inbox, folder_set.recursive) for folder_set in evented)
    return inotify_results(read_int(proc / "max_user_watches"),
                           read_int(proc / "max_user_instances"), watches, len(evented))


def check_state_dir(state_dir: Path) -> list[Result]:
    """state_dir exists (created private if missing), is private and writable, its journal
    is sound, and whether a vodwatch uses it now; takes no lock and changes no mode."""
    fix = (f"create it for the user vodwatch runs as (install -d -o vodwatch -g vodwatch "
           f"-m 700 {state_dir}); under systemd, StateDirectory= does this")
    created = not state_dir.exists()
    try:
        state_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if created:
            os.chmod(state_dir, DIR_MODE)
    except OSError as exc:
        return [Result(FAIL, f"state_dir {state_dir} cannot be created: {exc.strerror}", fix)]
    if not state_dir.is_dir():
        return [Result(FAIL, f"state_dir {state_dir} is not a folder", fix)]
    results = []
    for path, mode in loose_modes(state_dir):
        private = DIR_MODE if path == state_dir else FILE_MODE
        what = "state_dir" if path == state_dir else "journal file"
        results.append(Result(
            WARN, f"{what} {path} can be read by others (mode {mode:04o})",
            f"vodwatch run and once make it private ({private:04o}) when they start; "
            f"chmod {private:o} {path} does it now"))
    try:
        probe_write(state_dir)
    except StateUnavailable as exc:
        return [*results, Result(FAIL, exc.message, exc.hint)]
    results.append(Result(OK, f"state_dir {state_dir} is writable" + (
        " (created it)" if created else "")))
    results += check_journal(state_dir)
    if is_locked(state_dir):
        holder = read_holder(state_dir)
        who = f"another vodwatch ({holder.describe()})" if holder else "another vodwatch"
        results.append(Result(OK, f"state_dir {state_dir} is in use by {who}; a second run "
                              "or once on it is refused until that one stops"))
    return results


def check_journal(state_dir: Path) -> list[Result]:
    """The journal, if there is one, opens read-only and passes SQLite's quick check."""
    path = state_dir / JOURNAL_NAME
    if not path.exists():
        return []
    try:
        open_journal(state_dir, readonly=True).close()
    except StateUnavailable as exc:
        return [Result(FAIL, exc.message, exc.hint)]
    return [Result(OK, f"the journal {path} is sound (SQLite quick check)")]

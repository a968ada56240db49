"""Upgrade from 0.1: files hidden in 0.1's claim folders go back to the inbox.

0.1 renamed a claimed file into ``<inbox>/.vodwatch/claims/<instance>/<job>.<name>``.
The first start of this version returns them to the inbox under their own names:

- files of this daemon's own 0.1 jobs at once, their jobs carrying on (a multipart
  upload in flight is resumed, not abandoned: only the file's place changes);
- files of other 0.1 daemons once their lease (``.lease`` in their folder) has not
  changed for ``lease_seconds``, as 0.1 itself judged a dead peer. A 0.1 daemon
  still running on another machine keeps its files.

0.1's tickets beside the claims held signed URLs: they are deleted with the folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import structlog

from .claim import Claims, safe_id
from .finish import move_no_replace, unique_target
from .journal import Journal

log = structlog.get_logger("vodwatch.upgrade")


def legacy_root(claims: Claims) -> Path:
    return claims.root / "claims"


def _original(name: str) -> str:
    """``<job>.<name>`` (0.1's claim name) -> ``<name>``."""
    head, dot, rest = name.partition(".")
    return rest if dot and head.isdigit() and rest else name


def return_file(path: Path, inbox: Path, name: str) -> Path:
    """Move a hidden file back to ``inbox/name`` (a free variant if a newer one is there)."""
    target = inbox / name
    try:
        move_no_replace(path, target)
    except FileExistsError:
        target = unique_target(inbox, name)
        move_no_replace(path, target)
    log.warning("upgrade.file_returned", file=name, to=str(target))
    return target


def migrate_own_jobs(claims: Claims, journal: Journal, folder: str) -> None:
    """Bring this daemon's 0.1 jobs back into the inbox, keeping their progress."""
    if not journal.get_meta("legacy_claims"):
        return
    for job in journal.unfinished_jobs():
        if job.folder != folder:
            continue
        for f in journal.files(job.id):
            old = Path(f.marker)
            if old.parent.parent != legacy_root(claims):
                continue  # already a marker of this version
            place = Path(f.inbox_path)
            if os.path.lexists(old):
                place = return_file(old, claims.inbox, f.name)
            marker = claims.marker_for(place)
            journal.set_file(f.id, inbox_path=str(place), marker=str(marker))
            try:
                st = os.lstat(place)
            except OSError:
                continue
            if (st.st_size, st.st_mtime_ns) == (f.size, f.mtime_ns):
                # The move back changed only ctime (and perhaps nothing else): the hash stands.
                journal.set_file(f.id, ctime_ns=st.st_ctime_ns, ino=st.st_ino)
            claims.claim(place, job.id)


def sweep(claims: Claims, own_instance: str) -> bool:
    """Return files from 0.1 claim folders that are ours or dead; True when none is left."""
    root = legacy_root(claims)
    try:
        folders = [Path(e.path) for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return True
    mine = safe_id(own_instance)
    left = False
    for folder in folders:
        ours = folder.name == mine or (folder.name.startswith(".takeover-")
                                       and folder.name.endswith("-" + mine))
        lease = ""
        with contextlib.suppress(OSError):
            lease = (folder / ".lease").read_text()
        if not ours and not claims._observe("0.1:" + folder.name, lease):
            left = True  # a 0.1 daemon that may still be alive: its files stay its own
            continue
        _empty(folder, claims.inbox)
    if not left:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(claims.root / "locks", ignore_errors=True)
    return not left


def _empty(folder: Path, inbox: Path) -> None:
    for entry in list(os.scandir(folder)):
        if entry.name.startswith("."):
            continue  # the lease, tickets (with signed URLs) and temporary files
        if entry.is_dir(follow_symlinks=False):
            _empty(Path(entry.path), inbox)  # a 0.1 take-over folder
            continue
        try:
            return_file(Path(entry.path), inbox, _original(entry.name))
        except OSError as exc:
            log.error("upgrade.return_failed", file=entry.name, error=str(exc))
            return
    shutil.rmtree(folder, ignore_errors=True)

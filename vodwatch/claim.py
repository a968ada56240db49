"""Claims: which daemon handles which file, when several watch the same share.

The editor's file never moves until it goes to done/ or failed/. Coordination
lives in the share's hidden folder ``<inbox>/.vodwatch/``:

- ``share-id``: a random identity written once, so that an empty mount point is
  never mistaken for the share (see ``ShareIdentity`` in share.py).
- ``daemons/<daemon id>``: each daemon's lease, rewritten regularly. A peer whose
  lease has not changed for ``lease_seconds`` (by the observer's own clock, so no
  clock skew between hosts matters) is dead.
- ``files/<digest>/``: a claim marker, one per file being worked on, made with an
  exclusive ``mkdir`` (atomic on local disks, NFS and SMB alike). The digest of the
  file's path in the inbox names it, so a long file name cannot break it. Its
  ``owner`` file names the daemon.
- ``assets/<asset id>/``: the per-asset lock, a marker too, so it is a lease like
  the claims: none outlives its owner.
- ``jobs/<daemon id>/<job id>.json``: a ticket per job (its journal rows without
  any signed URL), so that a survivor can carry a dead daemon's job on, multipart
  upload included. What is secret is asked for again.

A daemon confirms an upload or moves a file only while it is *fenced*: it renewed
its lease within half the lease time. One cut off from the share stops before
another can take over.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from .share import STATE_DIR_NAME, ShareIdentity, new_daemon_id, read_or_none, safe_id, write_atomic

__all__ = [
    "OWNER",
    "SHARE_ERRNOS",
    "STATE_DIR_NAME",
    "Claims",
    "ShareIdentity",
    "marker_name",
    "new_daemon_id",
    "safe_id",
    "strip_secrets",
]

log = structlog.get_logger("vodwatch.claim")

OWNER = "owner"
# Errors that say the share itself is in trouble, not one file.
SHARE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
                          errno.ENOENT, errno.ENOTDIR, errno.ESTALE, errno.ENOTCONN,
                          errno.EDQUOT, errno.EHOSTDOWN, errno.ETIMEDOUT})


def marker_name(relative: str) -> str:
    """The claim marker's name for a file's path relative to the inbox."""
    return hashlib.sha256(relative.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def _owner_of(marker: Path) -> str | None:
    """The marker's owner; "" while it is being made (or its maker died); None if gone."""
    text = read_or_none(marker / OWNER)
    if text is None:
        return "" if os.path.isdir(marker) else None
    return text.split("\n", 1)[0].strip()


@dataclass
class Claims:
    """The markers, leases, locks and tickets of one daemon in one inbox."""

    inbox: Path
    daemon_id: str
    lease_seconds: float
    clock: Callable[[], float] = time.monotonic
    renewed_at: float | None = None  # our clock, last lease written successfully
    _beat: int = 0
    _seen: dict[str, tuple[str, float]] = field(default_factory=dict)

    # ---- layout ----------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.inbox / STATE_DIR_NAME

    @property
    def markers(self) -> Path:
        return self.root / "files"

    @property
    def asset_locks(self) -> Path:
        return self.root / "assets"

    @property
    def leases(self) -> Path:
        return self.root / "daemons"

    @property
    def tickets(self) -> Path:
        return self.root / "jobs"

    @property
    def mine(self) -> Path:
        """Our tickets folder."""
        return self.tickets / self.daemon_id

    def prepare(self) -> None:
        """Create the hidden folders (never the inbox itself) and write a first lease.

        Raises OSError when the inbox is missing or the share cannot be written.
        """
        if not self.inbox.is_dir():
            raise FileNotFoundError(errno.ENOENT, "the inbox does not exist", str(self.inbox))
        for folder in (self.root, self.markers, self.asset_locks, self.leases, self.tickets,
                       self.mine):
            with contextlib.suppress(FileExistsError):
                folder.mkdir()
        self.renew()

    # ---- leases and fencing ----------------------------------------------------------

    def renew(self) -> None:
        """Rewrite our lease so peers see we are alive; OSError if the share refuses."""
        self._beat += 1
        text = f"{self._beat} {time.time():.3f} {os.getpid()} {socket.gethostname()}\n"
        write_atomic(self.leases / self.daemon_id, text)
        self.renewed_at = self.clock()

    def fenced(self) -> bool:
        """True while our lease is fresh enough to act on the share (half the lease time)."""
        return self.renewed_at is not None and (
            self.clock() - self.renewed_at < self.lease_seconds / 2)

    def _observe(self, owner: str, content: str) -> bool:
        """Track ``owner``'s lease content; True once it stayed unchanged for a lease."""
        now = self.clock()
        seen = self._seen.get(owner)
        if seen is None or seen[0] != content:
            self._seen[owner] = (content, now)
            return False
        return now - seen[1] >= self.lease_seconds

    def dead_owners(self) -> list[str]:
        """Other daemons (by id) whose lease stopped changing, that still hold something."""
        owners: set[str] = set()
        for folder in (self.leases, self.tickets):
            with contextlib.suppress(OSError):
                owners.update(e.name for e in os.scandir(folder) if not e.name.startswith("."))
        for marker in self._all_markers():
            owner = _owner_of(marker)
            if owner == "" and self._observe("?" + marker.name, ""):
                # Its maker died between mkdir and naming itself: nobody holds it.
                shutil.rmtree(marker, ignore_errors=True)
            elif owner:
                owners.add(owner)
        owners.discard(self.daemon_id)
        dead = []
        for owner in sorted(owners):
            content = read_or_none(self.leases / owner) if owner else None
            if self._observe(owner, content or ""):
                dead.append(owner)
        return dead

    def alive_peers(self) -> int:
        """How many other daemons' leases changed within the last lease (for status)."""
        return len(self.alive_peer_ids())

    def alive_peer_ids(self) -> set[str]:
        """The other daemons whose leases changed within the last lease (tenant.py)."""
        now = self.clock()
        return {owner for owner, (content, since) in self._seen.items()
                if content and now - since < self.lease_seconds}

    # ---- claim markers ---------------------------------------------------------------

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.inbox))

    def marker_for(self, path: Path) -> Path:
        return self.markers / marker_name(self.relative(path))

    def claim(self, path: Path, job_id: int) -> Path | None:
        """Take the marker of ``path``; its path if the file is ours now, else None.

        OSError (other than "exists") means the share refused: the caller makes the
        folder set unavailable. A marker whose owner cannot be written is removed.
        """
        marker = self.marker_for(path)
        try:
            marker.mkdir()
        except FileExistsError:
            return None  # held, by a peer or by another job of ours
        try:
            write_atomic(marker / OWNER, f"{self.daemon_id}\n{job_id}\n{self.relative(path)}\n")
        except OSError:
            shutil.rmtree(marker, ignore_errors=True)
            raise
        return marker

    def owns(self, marker: Path) -> bool:
        return _owner_of(marker) == self.daemon_id

    def is_claimed(self, path: Path) -> bool:
        """True if any daemon holds the marker of ``path``."""
        return os.path.isdir(self.marker_for(path))

    def release(self, marker: Path) -> None:
        """Drop a marker of ours (the file went to done/ or failed/, or back to waiting)."""
        if _owner_of(marker) == self.daemon_id:
            shutil.rmtree(marker, ignore_errors=True)

    def adopt_marker(self, marker: Path, job_id: int) -> None:
        """Make a dead daemon's marker ours (its job is carried on by us)."""
        text = read_or_none(marker / OWNER) or ""
        lines = text.split("\n")
        relative = lines[2] if len(lines) > 2 else ""
        with contextlib.suppress(FileExistsError):
            marker.mkdir()
        write_atomic(marker / OWNER, f"{self.daemon_id}\n{job_id}\n{relative}\n")

    def _all_markers(self) -> list[Path]:
        out = []
        for folder in (self.markers, self.asset_locks):
            with contextlib.suppress(OSError):
                out += [Path(e.path) for e in os.scandir(folder) if not e.name.startswith(".")]
        return out

    def my_markers(self) -> list[Path]:
        """Claim markers we hold (at start-up: those no unfinished job needs are dropped)."""
        with contextlib.suppress(OSError):
            return [Path(e.path) for e in os.scandir(self.markers)
                    if _owner_of(Path(e.path)) == self.daemon_id]
        return []

    # ---- asset locks -----------------------------------------------------------------

    def lock_asset(self, asset_id: str) -> bool:
        """Take the share-wide lease of an asset; False if another daemon holds it."""
        path = self.asset_locks / asset_id
        try:
            path.mkdir()
        except FileExistsError:
            return _owner_of(path) == self.daemon_id
        try:
            write_atomic(path / OWNER, f"{self.daemon_id}\n")
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return True

    def holds_or_free(self, asset_id: str) -> bool:
        """True unless another daemon holds this asset's lock."""
        return _owner_of(self.asset_locks / asset_id) in (None, self.daemon_id)

    def unlock_asset(self, asset_id: str) -> None:
        """Release an asset lock that we hold."""
        if asset_id:
            self.release(self.asset_locks / asset_id)

    def release_all_locks(self) -> None:
        """Drop every asset lock of ours (at start-up, before resumed jobs take theirs)."""
        with contextlib.suppress(OSError):
            for entry in list(os.scandir(self.asset_locks)):
                self.release(Path(entry.path))

    # ---- tickets ---------------------------------------------------------------------

    def write_ticket(self, job_id: int, data: dict[str, Any]) -> None:
        """Write the job's ticket atomically, without any signed URL."""
        try:
            write_atomic(self.mine / f"{job_id}.json", json.dumps(strip_secrets(data)))
        except OSError as exc:
            log.warning("claim.ticket_failed", job_id=job_id, error=str(exc))

    def drop_ticket(self, job_id: int) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.mine / f"{job_id}.json")

    def my_tickets(self) -> dict[int, dict[str, Any] | None]:
        """Our tickets on the share by job id (None: unreadable or not a ticket)."""
        out: dict[int, dict[str, Any] | None] = {}
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.mine):
                stem, dot, ext = entry.name.partition(".")
                if not (stem.isdigit() and dot and ext == "json"):
                    continue
                try:
                    data = json.loads(Path(entry.path).read_text())
                except (OSError, ValueError):
                    data = None
                out[int(stem)] = data if isinstance(data, dict) else None
        return out

    def lost_tickets(self) -> bool:
        """True when our tickets folder was taken by a peer (we were presumed dead)."""
        return not self.mine.is_dir() and self.root.is_dir()

    # ---- take-over -------------------------------------------------------------------

    def take_over(self, dead: str, adopt: Callable[[dict[str, Any]], Iterable[tuple[Path, int]]]
                  ) -> int:
        """Carry on a dead daemon's jobs; returns how many jobs were adopted.

        The dead daemon's tickets folder is renamed to one of ours first (exactly one
        daemon wins it); ``adopt`` journals each ticket's job as ours and returns its
        (marker, new job id) pairs, which we then own. The dead daemon's other markers
        and locks are dropped: their files are in the inbox and simply free again.
        """
        work = self.tickets / f".takeover-{dead}-{self.daemon_id}"
        try:
            os.rename(self.tickets / dead, work)
        except FileNotFoundError:
            try:
                names = os.listdir(self.tickets)
            except OSError:
                names = []
            if any(name.startswith(f".takeover-{dead}-") for name in names):
                return 0  # another daemon won the tickets and is adopting them now
            work.mkdir(exist_ok=True)  # it held markers but no tickets
        except OSError as exc:
            log.warning("claim.takeover_failed", peer=dead, error=str(exc))
            return 0
        return self.finish_take_over(work, dead, adopt)

    def finish_take_over(self, work: Path, dead: str,
                         adopt: Callable[[dict[str, Any]], Iterable[tuple[Path, int]]]) -> int:
        """Adopt the tickets in a folder we already won (also after a crash of ours)."""
        adopted = 0
        for entry in sorted(os.scandir(work), key=lambda e: e.name):
            if not entry.name.endswith(".json") or entry.name.startswith("."):
                continue
            try:
                ticket = json.loads(Path(entry.path).read_text())
                adopted_markers = list(adopt(ticket))
                for marker, job_id in adopted_markers:
                    self.adopt_marker(marker, job_id)
                asset_id = str(ticket["job"]["asset_id"])
                if adopted_markers:
                    if asset_id:
                        shutil.rmtree(self.asset_locks / asset_id, ignore_errors=True)
                        self.lock_asset(asset_id)
                    adopted += 1
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("claim.adopt_failed", peer=dead, ticket=entry.name, error=str(exc))
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
        for marker in self._all_markers():
            if _owner_of(marker) == dead:
                shutil.rmtree(marker, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(self.leases / dead)
        shutil.rmtree(work, ignore_errors=True)
        self._seen.pop(dead, None)
        if adopted:
            log.warning("claim.taken_over", peer=dead, jobs=adopted)
        return adopted

    def unfinished_takeovers(self) -> list[tuple[Path, str]]:
        """Take-overs of ours cut short by a crash: (folder, dead id) to carry on at start-up."""
        out = []
        prefix, suffix = ".takeover-", "-" + self.daemon_id
        with contextlib.suppress(OSError):
            for e in os.scandir(self.tickets):
                if e.name.startswith(prefix) and e.name.endswith(suffix):
                    out.append((Path(e.path), e.name[len(prefix):-len(suffix)]))
        return out


def strip_secrets(ticket: dict[str, Any]) -> dict[str, Any]:
    """A journal export without signed URLs (what may be written to the share)."""
    files = [{k: v for k, v in f.items() if k != "upload_url"} for f in ticket.get("files", [])]
    return {**ticket, "files": files}

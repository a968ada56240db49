"""Claims: which daemon handles which file, when several watch the same share.

A file is claimed by renaming it into this daemon's claim folder inside the inbox
(same filesystem, so the rename is atomic); the winner is whoever's folder the
file is in afterwards, not whoever's rename returned without error (NFS may
report a retried rename as failed although it happened). Each claim folder has a
lease file that its owner rewrites regularly; another daemon that sees a lease
unchanged for ``lease_seconds`` (by its own clock: no clock skew between hosts
matters) gives the dead daemon's files back to the inbox.

Per-asset lock files, created with O_EXCL, keep two updates of one asset from
overlapping across daemons.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from .finish import move_no_replace

log = structlog.get_logger("vodwatch.claim")

STATE_DIR_NAME = ".vodwatch"


def _safe_id(instance_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in instance_id) or "default"


@dataclass
class Claims:
    """Claim folder, lease and asset locks of one daemon in one inbox."""

    inbox: Path
    instance_id: str
    lease_seconds: float
    clock: Callable[[], float] = time.monotonic
    _beat: int = 0
    _peers: dict[str, tuple[str, float]] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.inbox / STATE_DIR_NAME

    @property
    def claims_root(self) -> Path:
        return self.root / "claims"

    @property
    def mine(self) -> Path:
        return self.claims_root / _safe_id(self.instance_id)

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def prepare(self) -> None:
        """Create the claim and lock folders and write a first lease."""
        self.mine.mkdir(parents=True, exist_ok=True)
        self.locks.mkdir(parents=True, exist_ok=True)
        self.renew()

    def claim_path(self, job_id: int, name: str) -> Path:
        """Where a file of a job lives while it is ours."""
        return self.mine / f"{job_id}.{name}"

    def claim(self, src: Path, dst: Path) -> bool:
        """Rename ``src`` into our claim folder; True if the file is ours now."""
        if os.path.lexists(dst):
            return False  # never replace a file already held there
        try:
            ino = os.lstat(src).st_ino
        except FileNotFoundError:
            return False
        try:
            os.rename(src, dst)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("claim.rename_failed", file=src.name, error=str(exc))
        # Decide by where the file is, not by what the rename returned (a retried
        # rename on NFS can report ENOENT although it happened).
        try:
            return os.lstat(dst).st_ino == ino
        except FileNotFoundError:
            return False

    def give_back(self, src: Path, inbox_name: str) -> Path | None:
        """Return a claimed file to the inbox under its original name (never overwriting)."""
        dst = self.inbox / inbox_name
        try:
            move_no_replace(src, dst)
        except FileExistsError:
            log.warning("claim.give_back_collision", file=inbox_name)
            return None
        return dst

    def renew(self) -> None:
        """Rewrite our lease (a counter and the time) so peers see we are alive."""
        self._beat += 1
        lease = self.mine / ".lease"
        tmp = self.mine / ".lease.tmp"
        try:
            tmp.write_text(f"{self._beat} {time.time():.3f} {os.getpid()}\n")
            os.replace(tmp, lease)
        except OSError as exc:
            log.warning("claim.lease_failed", error=str(exc))

    def dead_peers(self) -> list[Path]:
        """Claim folders of other daemons whose lease stopped changing."""
        now = self.clock()
        dead = []
        try:
            entries = list(os.scandir(self.claims_root))
        except OSError:
            return []
        for entry in entries:
            if entry.name == self.mine.name or entry.name.startswith(".") or not entry.is_dir(
                    follow_symlinks=False):
                continue
            try:
                content = Path(entry.path, ".lease").read_text()
            except OSError:
                content = ""
            seen = self._peers.get(entry.name)
            if seen is None or seen[0] != content:
                self._peers[entry.name] = (content, now)
            elif now - seen[1] >= self.lease_seconds:
                dead.append(Path(entry.path))
        return dead

    def ticket_path(self, job_id: int) -> Path:
        """Where a job's ticket (its journal rows as JSON) lives beside its claimed files."""
        return self.mine / f".job-{job_id}.json"

    def write_ticket(self, job_id: int, data: dict[str, Any]) -> None:
        """Write the ticket atomically, so a peer can carry the job on if we die."""
        path = self.ticket_path(job_id)
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(data))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("claim.ticket_failed", job_id=job_id, error=str(exc))

    def drop_ticket(self, job_id: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.ticket_path(job_id))

    def take_over(self, peer: Path,
                  adopt: Callable[[dict[str, Any]], list[tuple[str, str]]]) -> int:
        """Carry on a dead daemon's jobs; returns how many files were taken.

        Each ticket is first renamed into our folder (one daemon wins it), then
        ``adopt`` journals the job as ours and says where its files go. Files
        without a ticket go back to the inbox.
        """
        # One daemon wins the whole folder by renaming it; the others find it gone.
        work = self.claims_root / f".takeover-{peer.name}-{self.mine.name}"
        try:
            os.rename(peer, work)
        except OSError:
            return 0
        return self.resume_take_over(work, adopt)

    def resume_take_over(self, work: Path,
                         adopt: Callable[[dict[str, Any]], list[tuple[str, str]]]) -> int:
        """Adopt the jobs in a dead daemon's folder that we have already won."""
        peer_name = work.name.removeprefix(".takeover-").removesuffix("-" + self.mine.name)
        peer = work
        taken = 0
        for entry in sorted(os.scandir(peer), key=lambda e: e.name):
            if not (entry.name.startswith(".job-") and entry.name.endswith(".json")):
                continue
            mine = self.mine / f".adopt-{peer_name}-{entry.name}"
            try:
                os.rename(entry.path, mine)
            except OSError:
                continue  # another daemon won this ticket
            try:
                ticket = json.loads(mine.read_text())
                asset_id = str(ticket["job"]["asset_id"])
                if asset_id:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.locks / f"{asset_id}.lock")
                    self.lock_asset(asset_id)
                for old, new in adopt(ticket):
                    old_path = peer / Path(old).name
                    if os.path.lexists(old_path):
                        os.rename(old_path, new)
                        taken += 1
            except (OSError, ValueError, KeyError) as exc:
                log.error("claim.adopt_failed", peer=peer_name, ticket=entry.name,
                          error=str(exc))
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(mine)
        for entry in list(os.scandir(peer)):
            if entry.name.startswith("."):
                continue
            _, _, original = entry.name.partition(".")
            if self.give_back(Path(entry.path), original or entry.name):
                taken += 1
        with contextlib.suppress(OSError):
            for lock in list(os.scandir(self.locks)):
                if _lock_owner(Path(lock.path)) == peer_name:
                    os.unlink(lock.path)
        if not [e for e in os.scandir(peer) if not e.name.startswith(".lease")]:
            shutil.rmtree(peer, ignore_errors=True)
        self._peers.pop(peer_name, None)
        if taken:
            log.warning("claim.taken_over", peer=peer_name, files=taken)
        return taken

    def unfinished_takeovers(self) -> list[Path]:
        """Take-overs of ours cut short by a crash: carry them on at start-up."""
        try:
            return [Path(e.path) for e in os.scandir(self.claims_root)
                    if e.name.startswith(".takeover-") and e.name.endswith("-" + self.mine.name)]
        except OSError:
            return []

    # ---- asset locks -----------------------------------------------------------------

    def lock_asset(self, asset_id: str) -> bool:
        """Take the share-wide lock of an asset; False if another daemon holds it."""
        path = self.locks / f"{asset_id}.lock"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return _lock_owner(path) == self.mine.name
        try:
            os.write(fd, self.mine.name.encode())
        finally:
            os.close(fd)
        return True

    def holds_or_free(self, asset_id: str) -> bool:
        """True unless another daemon holds this asset's lock."""
        owner = _lock_owner(self.locks / f"{asset_id}.lock")
        return owner in ("", self.mine.name)

    def unlock_asset(self, asset_id: str) -> None:
        """Release an asset lock that we hold."""
        path = self.locks / f"{asset_id}.lock"
        if _lock_owner(path) == self.mine.name:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def release_all_locks(self) -> None:
        """Drop every lock of ours (at start-up, before resumed jobs take theirs again)."""
        with contextlib.suppress(OSError):
            for lock in list(os.scandir(self.locks)):
                if _lock_owner(Path(lock.path)) == self.mine.name:
                    os.unlink(lock.path)

    def leftovers(self) -> list[Path]:
        """Files in our claim folder (for recovery of files no job knows about)."""
        try:
            return [Path(e.path) for e in os.scandir(self.mine) if not e.name.startswith(".")]
        except OSError:
            return []


def _lock_owner(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""

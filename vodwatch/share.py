"""Is this the share we know? The share's identity, and where it is mounted.

Before anything else touches an inbox, its identity says whether it is the share
seen before, or an empty mount point while the share is gone (so that an
unmounted share is "unavailable", never "every file vanished"). The identity is a
random id in the share's hidden folder ``<inbox>/.vodwatch/share-id``, checked
against the inbox's device and mount point, and against /etc/fstab on the very
first start. Also the small-file helpers claim.py shares for that hidden folder.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

# Kept from claim.py, where this lived: log lines are unchanged by the move.
from .atomic import replace_file

log = structlog.get_logger("vodwatch.claim")

STATE_DIR_NAME = ".vodwatch"
SHARE_ID = "share-id"


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` atomically (small coordination files: no fsync)."""
    replace_file(path, text.encode(), mode=mode, durable=False)

def read_or_none(path: Path) -> str | None:
    """The file's text, None if it does not exist."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return None


@dataclass
class ShareIdentity:
    """Is this inbox the share we know, or an empty mount point while the share is gone?

    The first start writes a random id into the hidden folder; the journal keeps it
    with the inbox's device. Later: the id present and equal is the share; the id
    missing on another device than before is an unmounted share (unavailable, never
    "every file vanished"); missing on the same device is an inbox that was removed
    and recreated, which gets a new id.
    """

    inbox: Path
    fstab: str = "/etc/fstab"
    mounts: str = "/proc/self/mounts"
    units: str = "/etc/systemd/system"  # *.mount units: mounts set up as fstab's are

    @property
    def path(self) -> Path:
        return self.inbox / STATE_DIR_NAME / SHARE_ID

    def unmounted_fstab_entry(self) -> str | None:
        """The /etc/fstab mount point at or above the inbox that is not mounted now, if any.

        Covers the first start ever, before any identity is known, on an empty mount point.
        """
        wanted = _mount_points(self.fstab) | _unit_mount_points(self.units)
        mounted = _mount_points(self.mounts)
        path = os.path.abspath(self.inbox)
        for candidate in [path, *[str(p) for p in Path(path).parents]]:
            if candidate in wanted and candidate not in mounted:
                return candidate
        return None

    def check(self, known: dict[str, Any] | None, expected: bool = False
              ) -> tuple[str | None, dict[str, Any] | None]:
        """(problem or None, identity to remember). Writes an id only where none is known.

        ``expected``: the journal holds work for this inbox (jobs, or 0.1 claims), so a
        share was there before; an empty folder with nothing mounted on it is then not
        taken for a new share (the mount point of a share that is not mounted).
        """
        try:
            st = os.stat(self.inbox)
        except OSError as exc:
            return f"the inbox cannot be read ({exc.strerror or exc})", None
        current = read_or_none(self.path) if os.path.isdir(self.inbox) else None
        current = current.strip() if current else None
        mount = self.mount_point()
        if current:
            if known and known.get("id") != current:
                log.warning("share.identity_changed", folder=str(self.inbox),
                            hint="another share is mounted here, or the hidden folder was "
                            "replaced; carrying on with it")
            return None, {"id": current, "dev": st.st_dev, "mount": mount}
        if known and (known.get("dev") != st.st_dev or known.get("mount", mount) != mount):
            return ("the share is not mounted (the inbox is an empty folder on another disk "
                    "or mount than before)"), None
        if not known:
            missing = self.unmounted_fstab_entry()
            if missing:
                return (f"the share is not mounted ({missing} is in /etc/fstab or a "
                        "systemd mount unit, but not mounted)"), None
            if expected and self.bare_mount_point(st):
                return (f"the share seems not mounted: {self.inbox} has no hidden "
                        f"{STATE_DIR_NAME} folder and nothing mounted on it, yet vodwatch "
                        "has unfinished work there; "
                        "mount the share and vodwatch carries on by itself (if this really "
                        f"is a new, empty share, create a folder named {STATE_DIR_NAME} in "
                        "it and vodwatch takes it as the share)"), None
        return None, None  # no id yet: the caller creates the hidden folder, then one

    def bare_mount_point(self, st: os.stat_result) -> bool:
        """True when the inbox has no hidden folder and nothing is mounted on it (it is not
        a mount point, and is on its parent's device): what an unmounted share leaves
        behind, even with a note someone left there. Asked only when the journal holds
        work for the inbox, so the share had its hidden folder."""
        try:
            if os.path.isdir(os.path.join(self.inbox, STATE_DIR_NAME)):
                return False
            parent = os.stat(os.path.dirname(os.path.realpath(self.inbox)))
        except OSError:
            return False
        return (parent.st_dev == st.st_dev
                and os.path.realpath(self.inbox) not in _mount_points(self.mounts))

    def mount_point(self) -> str:
        """The mount the inbox is on (the longest mounted prefix of its real path): a bind
        mount of the same disk has the same device, but not the same mount point."""
        path = os.path.realpath(self.inbox)
        best = "/"
        for point in _mount_points(self.mounts):
            if (path == point or path.startswith(point + "/")) and len(point) > len(best):
                best = point
        return best

    def create(self, st_dev: int | None = None) -> dict[str, Any]:
        ident = secrets.token_hex(16)
        write_atomic(self.path, ident + "\n")
        return {"id": ident, "dev": st_dev if st_dev is not None else os.stat(self.inbox).st_dev,
                "mount": self.mount_point()}


def _mount_points(table: str) -> set[str]:
    """Mount points listed in an fstab-style table (``/etc/fstab``, ``/proc/self/mounts``)."""
    try:
        with open(table, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return set()
    out = set()
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and not fields[0].startswith("#") and fields[1] != "/":
            out.add(fields[1].replace("\\040", " ").rstrip("/"))
    return out


def _unit_mount_points(folder: str) -> set[str]:
    """The ``Where=`` of the systemd mount units in ``folder`` (``/etc/systemd/system``)."""
    out: set[str] = set()
    try:
        names = [n for n in os.listdir(folder) if n.endswith(".mount")]
    except OSError:
        return out
    for name in names:
        try:
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue
        for line in lines:
            key, eq, value = line.strip().partition("=")
            if eq and key.strip() == "Where" and value.strip() not in ("", "/"):
                out.add(value.strip().rstrip("/"))
    return out


def safe_id(text: str) -> str:
    """``text`` reduced to characters safe in a file name (0.1's claim folder names)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "default"


def new_daemon_id(instance_id: str) -> str:
    """A daemon identity: readable host part plus a random part, unique per state_dir."""
    return f"{safe_id(instance_id)[:64]}-{secrets.token_hex(4)}"


def daemon_id(state_dir: Path, instance_id: str) -> str:
    """This daemon's identity on shares: kept in state_dir, so unique per state_dir."""
    path = state_dir / "daemon-id"
    try:
        return path.read_text().strip() or new_id(path, instance_id)
    except FileNotFoundError:
        return new_id(path, instance_id)


def new_id(path: Path, instance_id: str) -> str:
    ident: str = new_daemon_id(instance_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".daemon-id.tmp")
    tmp.write_text(ident + "\n")
    os.replace(tmp, path)
    return ident

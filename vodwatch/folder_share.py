"""Is a folder set's share there? Its identity, hidden folder, lease, and the words for it.

A mixin of ``FolderWatch`` (folder.py): a share fault makes the folder set
*unavailable* (said once, loudly) until it clears, and files are not settled
meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import structlog

from .claim import Claims, ShareIdentity
from .config import FolderSet
from .journal import Journal
from .settle import Settler
from .share_faults import probe_write, remove_stale_probes, share_fault
from .watch import Entry, EventWatcher

log = structlog.get_logger("vodwatch.folder")


class ShareState:
    """The share half of a folder set's watch (the attributes are FolderWatch's)."""

    folder_set: FolderSet
    journal: Journal
    claims: Claims
    identity: ShareIdentity
    settler: Settler[Path]
    entries: dict[Path, Entry]
    unavailable: str | None
    mode: str
    _watcher: EventWatcher | None
    _prepared: bool
    on_back: Callable[[], None] | None  # run once when the share is first found usable

    @property
    def name(self) -> str:
        return str(self.folder_set.inbox)

    @property
    def available(self) -> bool:
        return self.unavailable is None

    def start(self) -> None:
        raise NotImplementedError

    def open_share(self) -> bool:
        """Check the share is the one we know and usable; prepare its hidden folder.

        Returns True when available. Never creates the inbox; creates done/ and
        failed/ beside an inbox that exists.
        """
        key = f"share:{self.folder_set.name}"
        known = self.journal.get_meta(key)
        problem, ident = self.identity.check(known, expected=not known and self._expected())
        try:
            if problem is None:
                self.claims.prepare()
                if ident is None:
                    ident = self.identity.create()
                    log.info("share.identity_created", folder=self.name)
                if self.journal.get_meta(key) != ident:
                    self.journal.set_meta(key, ident)
                for folder in (self.folder_set.done, self.folder_set.failed):
                    folder.mkdir(exist_ok=True)
                    probe_write(folder)
                    remove_stale_probes(folder, time.time())
        except OSError as exc:
            problem = share_fault(exc, exc.filename or self.name)
        if problem is not None:
            self.set_unavailable(problem)
            return False
        self._prepared = True
        self.set_available()
        back, self.on_back = self.on_back, None
        if back is not None:
            back()  # the share is here for the first time since start: recover it now
        return self.available

    def _expected(self) -> bool:
        """Does the journal hold work for this inbox (its own jobs or 0.1's), so that a
        share was there before?"""
        return any(job.folder == self.folder_set.name for job in self.journal.unfinished_jobs())

    def set_unavailable(self, why: str) -> None:
        """Say loudly (once) that the share cannot be used, and stop settling its files."""
        if self.unavailable != why:
            log.error("folder.unavailable", folder=self.name, reason=why,
                      hint="files stay where they are; nothing is lost, cancelled or sent "
                      "twice, and vodwatch carries on by itself when this is fixed")
            self.journal.event(self.folder_set.name, "unavailable", detail=why)
        self.unavailable = why
        for path in list(self.entries):
            self.settler.forget(path)
        self.entries.clear()

    def set_available(self) -> None:
        if self.unavailable is not None:
            log.warning("folder.available_again", folder=self.name, was=self.unavailable)
            self.journal.event(self.folder_set.name, "available", detail="")
            if self.mode == "events" and self._watcher is None:
                self.start()
        self.unavailable = None

    def renew(self) -> bool:
        """Renew our lease on the share; False (and unavailable) if the share refuses."""
        try:
            self.claims.renew()
        except OSError as exc:
            self.set_unavailable(share_fault(exc, str(self.claims.leases)))
            return False
        return True
